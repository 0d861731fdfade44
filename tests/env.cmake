# env.cmake: extra targets and CLI tests for the Super Mario Bros environment.
# flag_search rebuilds tests/data/smb-1-1-flag.inputs (see tests/data/README.md);
# it is a tool, not a test.
add_executable(flag_search ${CMAKE_CURRENT_SOURCE_DIR}/flag_search.c)
target_include_directories(flag_search PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(flag_search PRIVATE smbrl_core)

foreach(case usage human rom)
  add_test(NAME env_cli_${case}
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/env_cli.sh ${case} $<TARGET_FILE:smbrl>
                   ${CMAKE_CURRENT_BINARY_DIR}/env_cli_${case} "$ENV{SMBRL_ROM_DIR}")
  set_tests_properties(env_cli_${case} PROPERTIES LABELS "unit;cli" SKIP_RETURN_CODE 77)
endforeach()

# obs_dump feeds tests/obs_torch_compare.py (a comparison with the PyTorch tutorial's
# resize, run by hand; no test needs PyTorch).
add_executable(obs_dump ${CMAKE_CURRENT_SOURCE_DIR}/obs_dump.c)
target_link_libraries(obs_dump PRIVATE smbrl_core)
