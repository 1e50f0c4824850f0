# cpack -G DEB (from the build tree): one package, socklab, with what
# SocklabInstall.cmake installs under /usr. Library dependencies come from the
# binaries (dpkg-shlibdeps). The maintainer scripts in cmake/debian/ ask (debconf)
# whether members of the group socklab may capture, as Wireshark's package does
# for dumpcap; see "Install as a package" in README.md.
set(CPACK_PACKAGE_NAME socklab)
set(CPACK_PACKAGE_VENDOR "socklab")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "network programming lessons that capture their own traffic")
set(CPACK_PACKAGE_DESCRIPTION
  "Each lesson (demo-handshake, demo-teardown, demo-sticky, demo-udp, demo-backlog, demo-chat)\n\
runs real sockets over the kernel's TCP/IP stack, records its own loopback traffic with\n\
libpcap and prints the program's calls beside the segments on the wire, explained in\n\
English or Chinese. socklab-capture records and reads pcap files. Members of the group\n\
socklab can be allowed to capture without sudo (debconf question).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "socklab maintainers <socklab@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Stripped, as Debian ships programs (the debug info would make it 100 MB).
set(CPACK_STRIP_FILES ON)
# The maintainer scripts use debconf, addgroup/delgroup (adduser) and setcap (libcap2-bin).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "debconf (>= 0.5) | debconf-2.0, adduser, libcap2-bin")

get_property(SOCKLAB_CAPTURE_PROGRAMS GLOBAL PROPERTY SOCKLAB_CAPTURE_PROGRAMS)
list(TRANSFORM SOCKLAB_CAPTURE_PROGRAMS PREPEND "${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/")
list(JOIN SOCKLAB_CAPTURE_PROGRAMS " " SOCKLAB_CAPTURE_PROGRAMS)
set(debian_dir "${PROJECT_BINARY_DIR}/debian")
foreach(script templates config postinst postrm)
  configure_file("${PROJECT_SOURCE_DIR}/cmake/debian/${script}" "${debian_dir}/${script}" @ONLY)
  list(APPEND CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${debian_dir}/${script}")
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
