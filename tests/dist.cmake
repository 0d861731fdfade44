# Distributed training over MPI (src/dist): real mpirun runs, labelled "mpi" and not "unit"
# (the sanitizer pass runs -L unit; ASan inside Open MPI reports the library's own leaks).
if(MPI_C_FOUND)
  # the glob registered these as one process each (a 1-rank job); the mpirun runs follow
  set_tests_properties(test_dist test_dist_train PROPERTIES LABELS "mpi" TIMEOUT 60)
  set(SMBRL_DIST_TESTS
      "dist_mpi_np2|${CMAKE_CURRENT_SOURCE_DIR}/dist_mpirun.sh|2|$<TARGET_FILE:test_dist>"
      "dist_netns|${CMAKE_CURRENT_SOURCE_DIR}/dist_netns.sh|$<TARGET_FILE:test_dist>"
      "dist_train_np2|${CMAKE_CURRENT_SOURCE_DIR}/dist_mpirun.sh|2|$<TARGET_FILE:test_dist_train>"
      "dist_kill|${CMAKE_CURRENT_SOURCE_DIR}/dist_kill.sh|$<TARGET_FILE:test_dist_train>|--kill")
  foreach(spec ${SMBRL_DIST_TESTS})
    string(REPLACE "|" ";" parts "${spec}")
    list(POP_FRONT parts name)
    add_test(NAME ${name} COMMAND sh ${parts})
    set_tests_properties(${name} PROPERTIES LABELS "mpi" TIMEOUT 90 SKIP_RETURN_CODE 77)
  endforeach()
  # real `smbrl train --distributed` runs with tiny settings and the ROM from SMBRL_ROM_DIR
  foreach(case run netns kill)
    add_test(NAME dist_train_${case}
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dist_train.sh ${case} $<TARGET_FILE:smbrl>
                     ${CMAKE_CURRENT_BINARY_DIR}/dist_train_${case} "$ENV{SMBRL_ROM_DIR}")
    set_tests_properties(dist_train_${case} PROPERTIES LABELS "mpi" TIMEOUT 120
                         SKIP_RETURN_CODE 77)
  endforeach()
else()
  add_test(NAME dist_no_mpi COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dist_no_mpi.sh $<TARGET_FILE:smbrl>)
  set_tests_properties(dist_no_mpi PROPERTIES LABELS "unit" TIMEOUT 30)
endif()
