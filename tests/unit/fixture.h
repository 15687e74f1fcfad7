/*
 * Fixtures shared by the unit tests (linked into every tests/unit binary):
 * a fresh mkdtemp folder per test, removed with everything in it, and
 * LeakSanitizer's check on demand. Failures are Criterion assertions.
 */
#ifndef HV_TEST_FIXTURE_H
#define HV_TEST_FIXTURE_H

#include <stddef.h>

/*
 * Makes a new folder /tmp/hv-NAME-XXXXXX and writes its path into dir
 * (cap bytes). Asserts that it was made.
 */
void fixture_tmpdir(char *dir, size_t cap, const char *name);

/* Removes dir and everything under it, never following a symbolic link. */
void fixture_rmtree(const char *dir);

/*
 * Fails the test if LeakSanitizer finds memory leaked so far (a leak found
 * only when a Criterion worker exits does not fail its test). Does nothing
 * in a build without LeakSanitizer.
 */
void fixture_assert_no_leaks(void);

#endif
