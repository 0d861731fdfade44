# env_tiles.cmake: command-line tests of --obs tiles (smbrl play, smbrl bench env).
add_test(NAME env_tiles_cli
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/env_tiles_cli.sh $<TARGET_FILE:smbrl>
                 ${CMAKE_CURRENT_BINARY_DIR}/env_tiles_cli "$ENV{SMBRL_ROM_DIR}")
set_tests_properties(env_tiles_cli PROPERTIES LABELS "unit;cli" SKIP_RETURN_CODE 77)
