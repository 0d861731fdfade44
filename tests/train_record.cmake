# smbrl train --record-every: a real short run that records a greedy episode GIF.
add_test(NAME train_record COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train_record.sh $<TARGET_FILE:smbrl>
         ${CMAKE_CURRENT_BINARY_DIR}/train_record_run)
set_tests_properties(train_record PROPERTIES LABELS "cli;train" SKIP_RETURN_CODE 77 TIMEOUT 240)
