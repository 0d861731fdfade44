# Our safetensors output read back by an independent Python reader (stdlib json/struct only).
find_program(SMBRL_ST_PYTHON3 python3)
if(SMBRL_ST_PYTHON3)
  add_test(NAME safetensors_python_xcheck
           COMMAND ${SMBRL_ST_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/safetensors_xcheck.py
                   $<TARGET_FILE:test_safetensors> ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(safetensors_python_xcheck PROPERTIES LABELS unit)
endif()
