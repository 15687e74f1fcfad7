/*
 * hv_events — the one list of the audit log's events (SPEC §9) and of the
 * statuses of the broker's receipts (SPEC §6), as enums with their names.
 *
 * The names are what the audit records, the receipts, the CLI and the JSON
 * carry, so they never change; code names an event or status by its enum
 * and this table gives the string. Holds nothing else and keeps no state.
 */
#ifndef HV_EVENTS_H
#define HV_EVENTS_H

enum hv_event {
	HV_EV_SUBMITTED,
	HV_EV_REJECTED,
	HV_EV_DELIVERED,
	HV_EV_ACKNOWLEDGED,
	HV_EV_ESCALATED,
	HV_EV_EXPIRED,
	HV_EV_DECISION_RECORDED,
	HV_EV_DIRECTORY_LOADED,
	HV_EV_AUDIT_QUERY,
	HV_EV_RESTORED,
	HV_EV_RETRACTED, /* the sender took a message back */
	HV_EV_WITHDRAWN, /* an undelivered copy removed */
	HV_EV_RETRACTION_DELIVERED, /* a recipient erased its copy */
	HV_EV_HOLD_ADDED, /* a legal hold at an agent */
	HV_EV_HOLD_REMOVED,
	HV_EV_COUNT
};

enum hv_status {
	HV_ST_ACCEPTED,
	HV_ST_REJECTED,
	HV_ST_DELIVERED,
	HV_ST_ACKNOWLEDGED,
	HV_ST_ESCALATED,
	HV_ST_EXPIRED,
	HV_ST_RETRACTED, /* to the sender: retraction recorded;
					 * to a recipient: erase (SPEC §15) */
	HV_ST_WITHDRAWN,
	HV_ST_RETRACTION_DELIVERED,
	HV_ST_COUNT
};

/* Every event's name, in enum order, then NULL. */
extern const char *const hv_event_names[HV_EV_COUNT + 1];

/* Every receipt status's name, in enum order, then NULL. */
extern const char *const hv_status_names[HV_ST_COUNT + 1];

/* The name of event e ("SUBMITTED"); "" for a value outside the enum. */
const char *hv_event_name(enum hv_event e);

/* The name of status s ("ACCEPTED"); "" for a value outside the enum. */
const char *hv_status_name(enum hv_status s);

/* 1 when name (may be NULL) is event e's name. */
int hv_event_is(const char *name, enum hv_event e);

/* 1 when name (may be NULL) is status s's name. */
int hv_status_is(const char *name, enum hv_status s);

#endif
