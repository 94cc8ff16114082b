# gost_set_warnings(target): the project's warning set; -Werror with GOST_WERROR.
function(gost_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wnon-virtual-dtor -Wno-sign-conversion)
  if(GOST_WERROR)
    # GCC 12 reports -Wmaybe-uninitialized false positives inside libstdc++ (<regex>,
    # std::function) and -Wmismatched-new-delete ones on Asio coroutine frames under -O1 with
    # sanitizers; keep them visible but not fatal.
    target_compile_options(${target} PRIVATE -Werror -Wno-error=maybe-uninitialized
                                             -Wno-error=mismatched-new-delete)
  endif()
endfunction()
