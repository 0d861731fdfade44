# The emulator against Nestopia's per-frame Super Mario Bros state for recorded input.
foreach(name smb-random-1 smb-random-2 smb-random-3 smb-progress-1)
  add_test(NAME reference_${name} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/reference_trace.sh $<TARGET_FILE:smbrl> ${name})
  set_tests_properties(reference_${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS roms)
  # The interpreters alone (translated code is the default: src/nes/jit.h).
  add_test(NAME reference_${name}_interpreted COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/reference_trace.sh $<TARGET_FILE:smbrl> ${name})
  set_tests_properties(reference_${name}_interpreted PROPERTIES SKIP_RETURN_CODE 77 LABELS roms ENVIRONMENT SMBRL_JIT=0)
endforeach()
add_test(NAME movie_fm2 COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/movie_fm2.sh $<TARGET_FILE:smbrl>)
set_tests_properties(movie_fm2 PROPERTIES SKIP_RETURN_CODE 77 LABELS roms)
