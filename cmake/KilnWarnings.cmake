# Warnings for kiln's own code: -Wall -Wextra, and no warning is tolerated in CI (KILN_WERROR).
option(KILN_WERROR "Treat warnings in kiln's own code as errors" OFF)

function(kiln_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unknown-pragmas>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --Werror=all-warnings>)
  if(KILN_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# -Wmissing-declarations for a target whose functions implement a header's declarations (kernels/,
# cpu_fallback/): every function with external linkage must have been declared before its
# definition, so a launcher whose definition drifts from the one declaration in kernels/X.inc is a
# warning (an error with KILN_WERROR, and always under nvcc's --Werror=all-warnings) instead of a
# silent overload. File-local helpers are `static` or in an anonymous namespace; in a .cu file,
# host helpers must be `static` even inside an anonymous namespace, because nvcc hands the host
# compiler anonymous namespaces renamed to unique named ones (_GLOBAL__N_...), which the warning
# then sees as named (kernels are fine: nvcc's generated __global__ stubs do not trigger it;
# checked with nvcc 13.0).
function(kiln_require_declarations target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wmissing-declarations>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wmissing-declarations>)
endfunction()
