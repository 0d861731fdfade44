# Distributed training over MPI (src/dist): real mpirun runs, labelled "mpi" and not "unit"
# (the sanitizer pass runs -L unit; ASan inside Open MPI reports the library's own leaks).
if(MPI_C_FOUND)
  # the glob registered test_dist as one process; under mpirun it is the 2-rank test below
  set_tests_properties(test_dist PROPERTIES LABELS "mpi" TIMEOUT 60)
  add_test(NAME dist_mpi_np2
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dist_mpirun.sh 2 $<TARGET_FILE:test_dist>)
  add_test(NAME dist_netns
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dist_netns.sh $<TARGET_FILE:test_dist>)
  set_tests_properties(dist_mpi_np2 dist_netns PROPERTIES LABELS "mpi" TIMEOUT 90
                       SKIP_RETURN_CODE 77)
endif()
