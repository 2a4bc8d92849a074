/* Run-time CPU feature detection, decided once. */
#include "ossfast.h"
#include "internal.h"

int ossfast_abi_version(void) { return OSSFAST_ABI_VERSION; }

#if OSSFAST_X86
static int detect(void)
{
    int f = 0;
    __builtin_cpu_init();
    /* libgcc's checks include the OS's XSAVE support for the AVX-512 state. */
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        f |= OSSFAST_CPU_PCLMUL;
    if ((f & OSSFAST_CPU_PCLMUL) && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("vpclmulqdq"))
        f |= OSSFAST_CPU_VPCLMUL;
    return f;
}
#else
static int detect(void) { return 0; }
#endif

static volatile int cpu_features = -1;

int ossfast_cpu_features(void)
{
    int f = cpu_features;
    if (f < 0) {
        /* Benign race: every thread computes the same value. */
        f = detect();
        const char *mask = getenv("OSSFAST_CPU_MASK");
        if (mask && *mask)
            f &= (int)strtol(mask, NULL, 0);
        cpu_features = f;
    }
    return f;
}
