# Gives every test gtest_discover_tests found in a target more than one ctest label.
# gtest_discover_tests' PROPERTIES cannot carry a list (its script splits `LABELS a;b` into
# `LABELS a b`), so a ctest include file of our own sets the labels on the list of tests the
# discovery left in <target>_TESTS; ctest includes it after the discovery's own file.
#   waygate_gtest_labels(target label...)   # call after gtest_discover_tests(target ...)
function(waygate_gtest_labels target)
  set(file ${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake)
  file(WRITE ${file}
       "if(${target}_TESTS)\n"
       "  set_tests_properties(\${${target}_TESTS} PROPERTIES LABELS \"${ARGN}\")\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${file})
endfunction()
