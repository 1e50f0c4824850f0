# What `cmake --install build --prefix P` puts where (GNU directories under P):
#   bin/                                  the demos and socklab-capture (socklab_install_program)
#   share/man/man1/, share/bash-completion/completions/   generated from each program's flags
#   share/doc/socklab/                    README.md, demos/README.md, lessons/en, lessons/zh
#   include/socklab/, lib/libsocklab_*.a  socklab::net and socklab::capture
#   lib/cmake/socklab/                    the package config: find_package(socklab)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/lessons/en" "${PROJECT_SOURCE_DIR}/lessons/zh"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/lessons" FILES_MATCHING PATTERN "*.md")
install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/demos/README.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME demos.md)

# The libraries, for those who write their own lessons on them.
set_target_properties(socklab_net PROPERTIES EXPORT_NAME net)
set_target_properties(socklab_capture PROPERTIES EXPORT_NAME capture)
set_target_properties(socklab_instrumentation PROPERTIES EXPORT_NAME instrumentation)
add_dependencies(socklab_installables socklab_net socklab_capture)
install(TARGETS socklab_net socklab_capture socklab_instrumentation
        EXPORT socklabTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/lib/include/socklab" "${PROJECT_SOURCE_DIR}/capture/include/socklab"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

set(SOCKLAB_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/socklab")
install(EXPORT socklabTargets NAMESPACE socklab:: DESTINATION "${SOCKLAB_CMAKE_DIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/socklabConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/socklabConfig.cmake" INSTALL_DESTINATION "${SOCKLAB_CMAKE_DIR}")
# 0.x: a new minor version may break the API, so only the same minor one is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/socklabConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/socklabConfig.cmake" "${PROJECT_BINARY_DIR}/socklabConfigVersion.cmake"
        DESTINATION "${SOCKLAB_CMAKE_DIR}")
