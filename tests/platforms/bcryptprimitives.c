/* A stand-in for Windows' bcryptprimitives.dll, for running the windows build
 * under Debian 12's wine 8.0, which lacks it: Rust's std (since 1.78) takes its
 * random numbers from ProcessPrng there, which Windows 10 and later have. Used by
 * tests/platforms/run only, beside the binary under test; never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
