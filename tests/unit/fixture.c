/*
 * Fixtures shared by the unit tests; see fixture.h.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "fixture.h"

extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void
fixture_tmpdir(char *dir, size_t cap, const char *name)
{
	int n = snprintf(dir, cap, "/tmp/hv-%s-XXXXXX", name);

	cr_assert(n > 0 && (size_t)n < cap, "folder name %s too long", name);
	cr_assert_not_null(mkdtemp(dir), "cannot make %s", dir);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
fixture_rmtree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
fixture_assert_no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check != NULL)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		    "memory leaked (see LeakSanitizer's report)");
}
