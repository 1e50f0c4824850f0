# socklab_embed_files(TARGET name NAMESPACE ns BASE_DIR dir FILES f1 f2 ...)
#
# Builds a static library `name` whose one generated source holds every file as a
# byte array, plus a table from relative path to text:
#
#   namespace <ns> { std::optional<std::string_view> find(std::string_view path);
#                    std::span<const EmbeddedFile> all(); }
#
# Lesson texts are data: editing a .md file regenerates the source at build time,
# and no file is looked up at run time.
set(SOCKLAB_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake")

function(socklab_embed_files)
  cmake_parse_arguments(ARG "" "TARGET;NAMESPACE;BASE_DIR" "FILES" ${ARGN})
  set(out_cpp "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}_embedded.cpp")
  set(out_hpp_dir "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}_include")
  set(abs_files "")
  foreach(f IN LISTS ARG_FILES)
    list(APPEND abs_files "${ARG_BASE_DIR}/${f}")
  endforeach()
  string(REPLACE ";" "|" files_arg "${ARG_FILES}")
  add_custom_command(
    OUTPUT "${out_cpp}"
    COMMAND ${CMAKE_COMMAND}
            "-DOUTPUT=${out_cpp}" "-DNAMESPACE=${ARG_NAMESPACE}"
            "-DBASE_DIR=${ARG_BASE_DIR}" "-DFILES=${files_arg}"
            -P "${SOCKLAB_EMBED_SCRIPT}"
    DEPENDS ${abs_files} "${SOCKLAB_EMBED_SCRIPT}"
    COMMENT "Embedding ${ARG_TARGET} texts"
    VERBATIM)
  add_library(${ARG_TARGET} STATIC "${out_cpp}")
  target_compile_features(${ARG_TARGET} PUBLIC cxx_std_23)
endfunction()
