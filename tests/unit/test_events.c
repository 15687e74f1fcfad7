/*
 * test_events — the one list of audit events and receipt statuses.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "hv_events.h"

Test(events, names_every_audit_event_of_the_spec_once_in_order)
{
	static const char *const spec[] = { "SUBMITTED", "REJECTED",
		"DELIVERED", "ACKNOWLEDGED", "ESCALATED", "EXPIRED",
		"DECISION_RECORDED", "DIRECTORY_LOADED", "AUDIT_QUERY",
		"RESTORED", "RETRACTED", "WITHDRAWN", "RETRACTION_DELIVERED",
		"HOLD_ADDED", "HOLD_REMOVED" };

	cr_assert_eq(HV_EV_COUNT, sizeof(spec) / sizeof(spec[0]));
	for (int i = 0; i < HV_EV_COUNT; i++) {
		cr_assert_str_eq(hv_event_name((enum hv_event)i), spec[i]);
		cr_assert(hv_event_is(spec[i], (enum hv_event)i));
	}
	cr_assert_null(hv_event_names[HV_EV_COUNT]);
	cr_assert_str_eq(hv_event_name(HV_EV_COUNT), "");
	cr_assert_not(hv_event_is(NULL, HV_EV_SUBMITTED));
	cr_assert_not(hv_event_is("submitted", HV_EV_SUBMITTED));
}

Test(events, names_every_receipt_status_once_in_order)
{
	static const char *const spec[] = { "ACCEPTED", "REJECTED", "DELIVERED",
		"ACKNOWLEDGED", "ESCALATED", "EXPIRED", "RETRACTED",
		"WITHDRAWN", "RETRACTION_DELIVERED" };

	cr_assert_eq(HV_ST_COUNT, sizeof(spec) / sizeof(spec[0]));
	for (int i = 0; i < HV_ST_COUNT; i++) {
		cr_assert_str_eq(hv_status_name((enum hv_status)i), spec[i]);
		cr_assert(hv_status_is(spec[i], (enum hv_status)i));
	}
	cr_assert_null(hv_status_names[HV_ST_COUNT]);
	cr_assert_not(hv_status_is("EXPIRED", HV_ST_ACCEPTED));
}
