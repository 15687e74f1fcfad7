/*
 * hv_events — the names of the audit events and receipt statuses.
 */
#include <string.h>

#include "hv_events.h"

const char *const hv_event_names[HV_EV_COUNT + 1] = {
	[HV_EV_SUBMITTED] = "SUBMITTED",
	[HV_EV_REJECTED] = "REJECTED",
	[HV_EV_DELIVERED] = "DELIVERED",
	[HV_EV_ACKNOWLEDGED] = "ACKNOWLEDGED",
	[HV_EV_ESCALATED] = "ESCALATED",
	[HV_EV_EXPIRED] = "EXPIRED",
	[HV_EV_DECISION_RECORDED] = "DECISION_RECORDED",
	[HV_EV_DIRECTORY_LOADED] = "DIRECTORY_LOADED",
	[HV_EV_AUDIT_QUERY] = "AUDIT_QUERY",
	[HV_EV_RESTORED] = "RESTORED",
	[HV_EV_COUNT] = NULL,
};

const char *const hv_status_names[HV_ST_COUNT + 1] = {
	[HV_ST_ACCEPTED] = "ACCEPTED",
	[HV_ST_REJECTED] = "REJECTED",
	[HV_ST_DELIVERED] = "DELIVERED",
	[HV_ST_ACKNOWLEDGED] = "ACKNOWLEDGED",
	[HV_ST_ESCALATED] = "ESCALATED",
	[HV_ST_EXPIRED] = "EXPIRED",
	[HV_ST_COUNT] = NULL,
};

const char *
hv_event_name(enum hv_event e)
{
	return (unsigned)e < HV_EV_COUNT ? hv_event_names[e] : "";
}

const char *
hv_status_name(enum hv_status s)
{
	return (unsigned)s < HV_ST_COUNT ? hv_status_names[s] : "";
}

int
hv_event_is(const char *name, enum hv_event e)
{
	return name != NULL && (unsigned)e < HV_EV_COUNT &&
	    strcmp(name, hv_event_names[e]) == 0;
}

int
hv_status_is(const char *name, enum hv_status s)
{
	return name != NULL && (unsigned)s < HV_ST_COUNT &&
	    strcmp(name, hv_status_names[s]) == 0;
}
