# cart.cmake: command-line tests of `smbrl rom` (tests/cart_cli.sh). The ROM case reads
# SMBRL_ROM_DIR when the test runs, falling back to its value when CMake ran, and
# skips (77) with neither.
foreach(case usage garbage synthetic rom)
  add_test(NAME cart_cli_${case}
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cart_cli.sh ${case} $<TARGET_FILE:smbrl>
                   ${CMAKE_CURRENT_BINARY_DIR}/cart_cli_${case} "$ENV{SMBRL_ROM_DIR}")
  set_tests_properties(cart_cli_${case} PROPERTIES LABELS "unit;cli" SKIP_RETURN_CODE 77)
endforeach()
