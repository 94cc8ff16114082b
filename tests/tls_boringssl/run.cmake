# Builds the tls module and its unit tests against BoringSSL (-DGOST_TLS_LIBRARY=BoringSSL,
# Debian's android-libboringssl-dev) in a sub-build of this source tree, and runs them, so the
# OpenSSL-API code keeps compiling and working with both libraries.
# Variables: SOURCE_DIR, BUILD_DIR (the main build; the sub-build goes below it), GENERATOR,
# SANITIZE, WERROR.
set(bdir ${BUILD_DIR}/tls-boringssl)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${bdir} -G ${GENERATOR}
                        -DCMAKE_BUILD_TYPE=Debug -DGOST_TLS_LIBRARY=BoringSSL
                        -DGOST_SANITIZE=${SANITIZE} -DGOST_WERROR=${WERROR}
                        -DGOST_BUILD_EXAMPLES=OFF -DGOST_BUILD_BENCHMARKS=OFF -DGOST_BUILD_CLI=OFF
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "BoringSSL sub-build: configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${bdir} --target unit_tls --parallel 2
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "BoringSSL sub-build: building unit_tls failed: ${rc}")
endif()
# The test binary must really use BoringSSL, not the system OpenSSL.
execute_process(COMMAND ldd ${bdir}/tests/unit_tls OUTPUT_VARIABLE libs RESULT_VARIABLE rc)
if(rc EQUAL 0 AND NOT libs MATCHES "android/libssl")
  message(FATAL_ERROR "BoringSSL sub-build: unit_tls is not linked to BoringSSL:\n${libs}")
endif()
execute_process(COMMAND ${bdir}/tests/unit_tls WORKING_DIRECTORY ${bdir} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "BoringSSL sub-build: unit_tls failed: ${rc}")
endif()
