# eval.cmake: CLI tests of smbrl eval (table, JSON, recordings, --render) and smbrl plot.
# eval_make_ckpt writes a fresh-weights checkpoint for them; it is a tool, not a test.
add_executable(eval_make_ckpt ${CMAKE_CURRENT_SOURCE_DIR}/eval_make_ckpt.c)
target_include_directories(eval_make_ckpt PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(eval_make_ckpt PRIVATE smbrl_core)

foreach(case usage render plot table record window)
  add_test(NAME eval_cli_${case}
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/eval_cli.sh ${case} $<TARGET_FILE:smbrl>
                   $<TARGET_FILE:eval_make_ckpt> ${CMAKE_CURRENT_BINARY_DIR}/eval_cli_${case}
                   "$ENV{SMBRL_ROM_DIR}")
  set_tests_properties(eval_cli_${case} PROPERTIES LABELS "unit;cli" SKIP_RETURN_CODE 77
                       ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/eval_lsan.supp")
endforeach()
# The table case trains for real and sets up all 32 stages, the window case drives Xvfb: minutes
# under ASan for code the record case already runs there. They run in the release pass only.
set_tests_properties(eval_cli_table eval_cli_window PROPERTIES LABELS "cli;integration")
