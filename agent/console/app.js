/*
 * Haven duty console: draws the page its path names from the console's
 * own /api/... answers. Every text that comes from a message is put in
 * with textContent, never as markup. No framework, nothing fetched from
 * elsewhere (the Content-Security-Policy forbids it anyway).
 */
'use strict';
(function () {
	var S = { csrf: null, role: null, name: null, ended: false,
	    es: null, timers: [], cursors: [null], page: 0 };
	var main = document.getElementById('main');

	/* ---- small helpers ------------------------------------------- */

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		var k;

		for (k in (attrs || {}))
			e.setAttribute(k, attrs[k]);
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function clear(e) {
		while (e.firstChild)
			e.removeChild(e.firstChild);
	}

	function sessionEnded() {
		if (S.ended)
			return;
		S.ended = true;
		if (S.es)
			S.es.close();
		S.timers.forEach(function (t) { clearInterval(t); });
		main.hidden = true;
		document.getElementById('logout').hidden = true;
		document.getElementById('ended').hidden = false;
		document.getElementById('login-again').focus();
	}

	/* fetch with the session cookie; a 401 ends the page's session. */
	function api(path, opts) {
		opts = opts || {};
		opts.credentials = 'same-origin';
		opts.headers = opts.headers || {};
		if (opts.method === 'POST')
			opts.headers['X-CSRF-Token'] = S.csrf;
		return fetch(path, opts).then(function (r) {
			if (r.status === 401) {
				sessionEnded();
				throw new Error('session ended');
			}
			return r.json().then(function (j) {
				return { status: r.status, body: j };
			});
		});
	}

	function when(iso) {
		if (!iso)
			return '';
		var d = new Date(iso);
		return isNaN(d) ? String(iso) : d.toLocaleString('en-GB');
	}

	/* "3 h 05 min left" and its RAG band: RED 4 h, AMBER 24 h, GREEN. */
	function countdown(iso) {
		if (!iso)
			return { text: 'no deadline', rag: '' };
		var ms = new Date(iso).getTime() - Date.now();
		var over = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
		var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
		var text = (h > 0 ? h + ' h ' : '') + String(m).padStart(2, '0') +
		    ' min ' + String(s % 60).padStart(2, '0') + ' s';
		var rag = over || ms < 4 * 3600e3 ? 'RED' :
		    ms < 24 * 3600e3 ? 'AMBER' : 'GREEN';
		return { text: over ? 'overdue by ' + text : text + ' left',
		    rag: rag };
	}

	/* The due time of a message's deadline ({rag?, due}), or null. */
	function due(d) {
		return d && typeof d === 'object' ? d.due || null : d || null;
	}

	function drawCountdowns() {
		document.querySelectorAll('[data-deadline]').forEach(function (e) {
			var c = countdown(e.getAttribute('data-deadline'));
			e.textContent = c.rag + ' ' + c.text;
			e.className = 'rag-' + c.rag;
		});
	}

	/*
	 * The words a duty worker reads for the codes the API speaks: the
	 * partnership's one list (lib/hv_words), loaded from /api/words when
	 * the page starts; the codes stay what forms send. An unknown code is
	 * shown as words too.
	 */
	var WORDS = {
		child: { name: 'Name', dob: 'Date of birth' }
	};

	function words(kind, code) {
		if (code === null || code === undefined || code === '')
			return code;
		var w = (WORDS[kind] || {})[code];
		if (w)
			return w;
		w = String(code).replace(/_/g, ' ').toLowerCase();
		return w.charAt(0).toUpperCase() + w.slice(1);
	}

	function facts(pairs) {
		var dl = el('dl', { 'class': 'facts' });
		pairs.forEach(function (p) {
			dl.appendChild(el('dt', {}, p[0]));
			var dd = el('dd', {});
			if (p[1] instanceof Node)
				dd.appendChild(p[1]);
			else
				dd.textContent = p[1] === null || p[1] === undefined ?
				    '—' : String(p[1]);
			dl.appendChild(dd);
		});
		return dl;
	}

	/* An object's members as facts; nested values as JSON text. */
	function objectFacts(o, kind) {
		if (o === null || typeof o !== 'object')
			return el('p', {}, o === null ? '—' : String(o));
		return facts(Object.keys(o).map(function (k) {
			var v = o[k];
			return [kind ? words(kind, k) : k,
			    typeof v === 'object' && v !== null ?
			    JSON.stringify(v) : v];
		}));
	}

	/* ---- announcing IMMEDIATE messages ----------------------------- */

	var audio = null;

	function beep() {
		try {
			var Ctx = window.AudioContext || window.webkitAudioContext;
			if (!Ctx)
				return;
			audio = audio || new Ctx();
			if (audio.state === 'suspended')
				audio.resume();
			[0, 0.35].forEach(function (at) {
				var o = audio.createOscillator(), g = audio.createGain();
				o.frequency.value = 880;
				g.gain.value = 0.2;
				o.connect(g);
				g.connect(audio.destination);
				o.start(audio.currentTime + at);
				o.stop(audio.currentTime + at + 0.25);
			});
		} catch (e) { /* no sound device: the visible alert stays */ }
	}

	function announce(ev) {
		var box = document.getElementById('announce');
		box.textContent = 'IMMEDIATE: ' + (ev.type ? words('type',
		    ev.type) : 'a message') + ' from ' + (ev.sender ||
		    'another agency') + (ev.escalated ? ' (escalated)' : '') +
		    '. It is at the top of the alerts.';
		beep();
	}

	/* ---- alerts (start page) --------------------------------------- */

	/* passive: a refresh the person did not ask for (see api()). */
	function drawAlerts(passive) {
		var cur = S.cursors[S.page];
		var q = '/api/alerts' + (cur ? '?cursor=' +
		    encodeURIComponent(cur) : '');

		return api(q, passive ? { headers: { 'X-Haven-Passive': '1' } } :
		    {}).then(function (r) {
			var p = r.body, h1, tbl, tb, pager, prev, next;
			/* A redraw on an event keeps a keyboard user's place. */
			var had = document.activeElement;
			var keep = had && main.contains(had) ?
			    had.getAttribute('data-focus') : null;

			clear(main);
			h1 = el('h1', { id: 'alerts-title' }, 'Alerts');
			main.appendChild(h1);
			if (r.status !== 200) {
				main.appendChild(el('p', { 'class': 'error' },
				    p.error ? p.error.message : 'Cannot list alerts.'));
				return;
			}
			main.appendChild(el('p', { id: 'alerts-total' },
			    p.total + ' unacknowledged message' +
			    (p.total === 1 ? '' : 's') + (p.total > 0 ?
			    ', page ' + (S.page + 1) : '') + '.'));
			if (p.messages.length === 0)
				return;
			tbl = el('table', { id: 'alerts', 'aria-describedby':
			    'alerts-total' });
			var hr = el('tr');
			['Priority', 'Type', 'From', 'Received', 'Deadline',
			    'Message'].forEach(function (t) {
				hr.appendChild(el('th', { scope: 'col' }, t));
			});
			tbl.appendChild(el('thead')).appendChild(hr);
			tb = el('tbody');
			p.messages.forEach(function (m) {
				var tr = el('tr', { 'data-id': m.id });
				var pr = el('td', { 'class': 'prio-' + m.priority },
				    m.priority);
				if (m.escalated) {
					pr.appendChild(document.createTextNode(' '));
					pr.appendChild(el('span', { 'class': 'escalated' },
					    'ESCALATED'));
				}
				tr.appendChild(pr);
				tr.appendChild(el('td', {}, words('type', m.type)));
				tr.appendChild(el('td', {}, m.sender));
				tr.appendChild(el('td', { 'class': 'when' },
				    when(m.received_at)));
				var dl = el('td');
				if (due(m.deadline))
					dl.appendChild(el('span', { 'data-deadline':
					    due(m.deadline) }));
				else
					dl.textContent = 'no deadline';
				tr.appendChild(dl);
				var open = el('td');
				open.appendChild(el('a', { href: '/message/' + m.id,
				    'data-focus': 'open-' + m.id },
				    'Open the ' + words('type', m.type).toLowerCase() +
				    ' from ' + m.sender));
				tr.appendChild(open);
				tb.appendChild(tr);
			});
			tbl.appendChild(tb);
			main.appendChild(tbl);
			pager = el('div', { 'class': 'pager' });
			prev = el('button', { type: 'button', 'class': 'secondary',
			    'data-focus': 'prev' }, 'Previous page');
			prev.disabled = S.page === 0;
			prev.addEventListener('click', function () {
				S.page--;
				drawAlerts();
			});
			next = el('button', { type: 'button', 'class': 'secondary',
			    'data-focus': 'next' }, 'Next page');
			next.disabled = !p.cursor;
			next.addEventListener('click', function () {
				S.cursors[S.page + 1] = p.cursor;
				S.page++;
				drawAlerts();
			});
			pager.appendChild(prev);
			pager.appendChild(next);
			if (S.page > 0 || p.cursor)	/* more than one page */
				main.appendChild(pager);
			drawCountdowns();
			if (keep && (had = main.querySelector('[data-focus="' +
			    keep + '"]')) !== null)
				had.focus();
		}).catch(function () {});
	}

	/* ---- one message ------------------------------------------------ */

	function drawMessage(id) {
		return api('/api/inbox/' + id).then(function (r) {
			var m = r.body;

			clear(main);
			if (r.status !== 200) {
				main.appendChild(el('h1', {}, 'Message'));
				main.appendChild(el('p', { 'class': 'error' },
				    m.error ? m.error.message : 'Cannot read it.'));
				return;
			}
			if (m.retracted || m.erased)
				return drawGone(m);
			if (m.do_not_contact_family)
				main.appendChild(el('p', { 'class': 'dncf', id: 'dncf' },
				    'DO NOT CONTACT FAMILY'));
			main.appendChild(el('h1', {}, m.priority + ': ' +
			    words('type', m.type) + ' from ' + m.sender));
			if (m.escalated)
				main.appendChild(el('p', {}, '')).appendChild(
				    el('span', { 'class': 'escalated' }, 'ESCALATED'));
			if (m.error)
				main.appendChild(el('p', { 'class': 'error' },
				    m.error.message));
			main.appendChild(el('h2', {}, 'Child'));
			main.appendChild(objectFacts(m.child, 'child'));
			main.appendChild(el('h2', {}, 'Message'));
			var body = el('div', { id: 'body' });
			if (m.body && typeof m.body === 'object' &&
			    typeof m.body.text === 'string') {
				body.appendChild(el('p', { 'class': 'body-text',
				    id: 'body-text' }, m.body.text));
				var rest = {};
				Object.keys(m.body).forEach(function (k) {
					if (k !== 'text')
						rest[k] = m.body[k];
				});
				if (Object.keys(rest).length)
					body.appendChild(objectFacts(rest));
			} else
				body.appendChild(objectFacts(m.body));
			main.appendChild(body);
			var dl = due(m.deadline) ? el('span', { 'data-deadline':
			    due(m.deadline) }) : 'no deadline';
			var about = [['From', m.sender],
			    ['Received', when(m.received_at)],
			    ['Sent', when(m.created)],
			    ['Deadline', dl]];
			if (m.reply_to)
				about.push(['In answer to', m.reply_to]);
			main.appendChild(facts(about));
			main.appendChild(el('h2', {}, 'Lawful basis'));
			main.appendChild(facts([['Consent', words('consent',
			    m.basis.consent)],
			    ['UK GDPR Article 6', words('art6', m.basis.art6)],
			    ['Article 9 condition', words('art9', m.basis.art9)],
			    ['Justification', m.basis.justification ||
			    (m.basis.justification_sealed ? 'Sealed for the ' +
			    'partnership\'s IG officer, who can read it if the ' +
			    'share is questioned.' : null)],
			    ['Decided by', m.basis.decided_by]]));
			main.appendChild(el('h2', {}, 'Acknowledgement'));
			var acks = el('ul', { id: 'acks' });
			(m.acks || []).forEach(function (a) {
				acks.appendChild(el('li', {}, 'Acknowledged by ' + a.by +
				    ' at ' + when(a.at) + (a.note ? ': ' + a.note : '')));
			});
			main.appendChild(acks);
			if (m.type === 'INFO_REQUEST' && S.role === 'duty')
				main.appendChild(el('p')).appendChild(el('a', {
				    href: '/send?reply_to=' + m.id + '&to=' +
				    encodeURIComponent(m.sender), id: 'reply' },
				    'Reply with an INFO_RESPONSE'));
			if (!m.acknowledged && S.role === 'duty')
				main.appendChild(ackForm(id));
			else if (!m.acknowledged)
				main.appendChild(el('p', {}, 'Not acknowledged yet. ' +
				    'A viewer cannot acknowledge; a duty user can.'));
			drawCountdowns();
		}).catch(function () {});
	}

	/*
	 * A message its sender retracted, or erased under the retention rule:
	 * only its header is kept, so say why first and show nothing to act on.
	 */
	function drawGone(m) {
		main.appendChild(el('h1', {}, m.priority + ': ' +
		    words('type', m.type) + ' from ' + m.sender));
		var why = m.retracted ?
		    'Retracted by the sender: ' + m.retraction.reason +
		    ', decided by ' + m.retraction.decided_by + ' at ' +
		    when(m.retraction.at) + '. The child\'s details and the ' +
		    'message are no longer shown here.' :
		    'Erased: ' + m.status + '. Only its header is kept.';
		main.appendChild(el('p', { 'class': 'error', id: 'gone' }, why));
		main.appendChild(facts([['From', m.sender],
		    ['Received', when(m.received_at)],
		    ['Sent', when(m.created)],
		    ['Message id', m.id]]));
	}

	function ackForm(id) {
		var f = el('form', { id: 'ack-form' });
		var p1 = el('p');
		p1.appendChild(el('label', { 'for': 'note' }, 'Note (optional)'));
		p1.appendChild(el('textarea', { id: 'note', name: 'note', rows: 3,
		    maxlength: 1000 }));
		f.appendChild(p1);
		var b = el('button', { type: 'submit', id: 'ack-button' },
		    'Acknowledge as ' + S.name);
		f.appendChild(el('p')).appendChild(b);
		var out = el('p', { role: 'status', id: 'ack-result' });
		f.appendChild(out);
		f.addEventListener('submit', function (e) {
			e.preventDefault();
			b.disabled = true;
			api('/api/inbox/' + id + '/ack', { method: 'POST',
			    headers: { 'Content-Type': 'application/json' },
			    body: JSON.stringify({ note:
			    document.getElementById('note').value }) })
			    .then(function (r) {
				if (r.status === 200) {
					drawMessage(id).then(function () {
						var acks = document.getElementById('acks');
						if (acks)
							acks.setAttribute('tabindex', '-1');
						if (acks)
							acks.focus();
					});
				} else {
					out.className = 'error';
					out.textContent = r.body.error ?
					    r.body.error.message : 'Not acknowledged.';
					b.disabled = false;
				}
			}).catch(function () {});
		});
		return f;
	}


	/* ---- send and decision forms ----------------------------------- */

	/*
	 * A labelled control with its own error line; name is the API's
	 * field ("basis.justification"), so a refusal lands beside it.
	 */
	function field(form, name, label, control, hint) {
		var id = 'f-' + name.replace(/[^a-z0-9]+/gi, '-');
		var p = el('p', { 'class': 'field', 'data-field': name });
		control.id = id;
		p.appendChild(el('label', { 'for': id }, label));
		if (hint) {
			p.appendChild(el('span', { 'class': 'hint', id: id + '-hint' },
			    hint));
			control.setAttribute('aria-describedby', id + '-hint');
		}
		var err = el('span', { 'class': 'error field-error',
		    id: id + '-error', role: 'alert' });
		p.appendChild(err);
		p.appendChild(control);
		form.appendChild(p);
		return control;
	}

	/* A select of codes, each shown in words of its kind. */
	function select(codes, blank, kind) {
		var s = el('select');
		if (blank !== undefined)
			s.appendChild(el('option', { value: '' }, blank));
		codes.forEach(function (w) {
			s.appendChild(el('option', { value: w },
			    kind ? words(kind, w) : w));
		});
		return s;
	}

	function clearErrors(form) {
		form.querySelectorAll('.field-error').forEach(function (e) {
			e.textContent = '';
		});
		form.querySelectorAll('[aria-invalid]').forEach(function (e) {
			e.removeAttribute('aria-invalid');
		});
	}

	/* The API's field names that a control of another name stands for. */
	var FIELD_ALIAS = { recipients: 'to', basis: 'basis.consent',
	    subject: 'subject.nhs', child: 'child.name', body: 'body.text' };

	/* Shows the API's refusal beside the field it names. */
	function showError(form, top, err) {
		var name = err.field || '';
		var box = form.querySelector('[data-field="' + name + '"]') ||
		    form.querySelector('[data-field="' +
		    (FIELD_ALIAS[name] || name.split('.')[0]) + '"]');

		if (box) {
			var ctl = box.querySelector('input, select, textarea, fieldset');
			var lab = box.querySelector('label, legend');
			var msg = String(err.message || 'Refused.');
			/* "basis.justification must ..." reads "Justification must". */
			if (name && lab && msg.indexOf(name + ' ') === 0)
				msg = lab.firstChild.textContent + msg.slice(name.length);
			/* and "consent was NOT_SOUGHT" reads "not sought". */
			msg = msg.replace(/\b[A-Z]+(_[A-Z]+)+\b/g, function (c) {
				return c.replace(/_/g, ' ').toLowerCase();
			});
			box.querySelector('.field-error').textContent = msg;
			if (ctl) {
				ctl.setAttribute('aria-invalid', 'true');
				ctl.focus();
			}
		} else {
			top.className = 'error';
			top.textContent = err.message;
			top.focus();
		}
	}

	function basisFields(form, allowed) {
		var fs = el('fieldset');
		fs.appendChild(el('legend', {}, 'Lawful basis'));
		form.appendChild(fs);
		var c = {};
		c.consent = field(fs, 'basis.consent', 'Consent',
		    select(allowed.consent, undefined, 'consent'));
		c.art6 = field(fs, 'basis.art6', 'UK GDPR Article 6 basis',
		    select(allowed.art6, undefined, 'art6'));
		c.art9 = field(fs, 'basis.art9', 'Article 9 condition',
		    select(allowed.art9, undefined, 'art9'),
		    'Needed for health (special category) ' +
		    'information when the agreement says so.');
		c.justification = field(fs, 'basis.justification',
		    'Justification', el('textarea', { rows: 3 }),
		    'Why sharing (or not) is necessary and proportionate; at ' +
		    'least 20 characters unless consent was obtained.');
		c.decided_by = field(fs, 'basis.decided_by', 'Decided by',
		    el('input', { autocomplete: 'off' }));
		c.decided_by.value = S.name;
		return c;
	}

	function basisValue(c) {
		return { consent: c.consent.value, art6: c.art6.value,
		    art9: c.art9.value, justification: c.justification.value,
		    decided_by: c.decided_by.value };
	}

	function subjectValue(nhs, local) {
		return local.value ? { local: local.value } : { nhs: nhs.value };
	}

	function submitTo(path, form, top, build, done) {
		form.addEventListener('submit', function (e) {
			e.preventDefault();
			clearErrors(form);
			top.textContent = '';
			api(path, { method: 'POST', headers: { 'Content-Type':
			    'application/json' }, body: JSON.stringify(build()) })
			    .then(function (r) {
				if (r.status === 202)
					done(r.body.id);
				else
					showError(form, top, r.body.error || {
					    message: 'Refused.' });
			}).catch(function () {});
		});
	}

	function drawSend() {
		return api('/api/allowed').then(function (r) {
			var al = r.body, f, top, c = {}, b;

			clear(main);
			main.appendChild(el('h1', {}, 'Send a message'));
			top = el('p', { id: 'send-result', tabindex: '-1',
			    role: 'status' });
			main.appendChild(top);
			if (!al.types || al.types.length === 0) {
				main.appendChild(el('p', {}, 'The agreement lets this ' +
				    'agency send nothing at present.'));
				return;
			}
			f = el('form', { id: 'send-form', novalidate: '' });
			c.type = field(f, 'type', 'Type', select(al.types.map(
			    function (t) { return t.type; }), undefined, 'type'));
			var rp = el('fieldset', { 'class': 'field',
			    'data-field': 'to' });
			rp.appendChild(el('legend', {}, 'Recipients (only those the ' +
			    'agreement allows for this type)'));
			rp.appendChild(el('span', { 'class': 'error field-error',
			    id: 'f-to-error', role: 'alert' }));
			var boxes = el('div', { id: 'f-to' });
			rp.appendChild(boxes);
			f.appendChild(rp);
			function recipients() {
				var t = al.types.filter(function (x) {
					return x.type === c.type.value; })[0];
				clear(boxes);
				t.to.forEach(function (n, i) {
					var id = 'f-to-' + i;
					var lab = el('label', { 'for': id, 'class': 'check' });
					var cb = el('input', { type: 'checkbox', id: id,
					    value: n });
					lab.appendChild(cb);
					lab.appendChild(document.createTextNode(' ' + n));
					boxes.appendChild(lab);
				});
			}
			c.type.addEventListener('change', recipients);
			recipients();
			c.priority = field(f, 'priority', 'Priority',
			    select(al.priorities));
			c.priority.value = 'URGENT';
			c.deadline = field(f, 'deadline', 'Deadline',
			    select(['RED', 'AMBER', 'GREEN'], 'none'),
			    'RED 4 hours, AMBER 24 hours, GREEN 72 hours.');
			c.dncf = el('input', { type: 'checkbox', id: 'f-dncf' });
			var dl = el('p', { 'class': 'field' });
			var dlab = el('label', { 'for': 'f-dncf', 'class': 'check' });
			dlab.appendChild(c.dncf);
			dlab.appendChild(document.createTextNode(
			    ' DO NOT CONTACT FAMILY'));
			dl.appendChild(dlab);
			f.appendChild(dl);
			c.nhs = field(f, 'subject.nhs', 'Child\'s NHS number',
			    el('input', { inputmode: 'numeric', autocomplete: 'off' }));
			c.local = field(f, 'subject.local', 'or, when there is no ' +
			    'NHS number, a local id (AGENCY:ID)',
			    el('input', { autocomplete: 'off' }));
			c.name = field(f, 'child.name', 'Child\'s name',
			    el('input', { autocomplete: 'off' }));
			c.dob = field(f, 'child.dob', 'Date of birth',
			    el('input', { type: 'date' }));
			c.text = field(f, 'body.text', 'Message',
			    el('textarea', { rows: 6 }));
			c.reply_to = field(f, 'reply_to', 'In answer to (the ' +
			    'request\'s id, for an answer to a request for ' +
			    'information)',
			    el('input', { autocomplete: 'off' }));
			c.basis = basisFields(f, al);
			var qs = new URLSearchParams(location.search);
			if (qs.get('reply_to')) {
				c.reply_to.value = qs.get('reply_to');
				if (al.types.some(function (t) {
				    return t.type === 'INFO_RESPONSE'; })) {
					c.type.value = 'INFO_RESPONSE';
					recipients();
				}
				boxes.querySelectorAll('input').forEach(function (x) {
					if (x.value === qs.get('to'))
						x.checked = true;
				});
			}
			b = el('button', { type: 'submit', id: 'send-button' },
			    'Send');
			f.appendChild(el('p')).appendChild(b);
			main.appendChild(f);
			submitTo('/api/messages', f, top, function () {
				var req = { type: c.type.value, priority: c.priority.value,
				    to: Array.prototype.map.call(
				    boxes.querySelectorAll('input:checked'),
				    function (x) { return x.value; }),
				    subject: subjectValue(c.nhs, c.local),
				    child: { name: c.name.value, dob: c.dob.value },
				    body: { text: c.text.value },
				    basis: basisValue(c.basis) };
				if (c.deadline.value)
					req.deadline = c.deadline.value;
				if (c.reply_to.value)
					req.reply_to = c.reply_to.value;
				if (c.dncf.checked)
					req.do_not_contact_family = true;
				return req;
			}, function (id) {
				f.reset();
				c.basis.decided_by.value = S.name;
				recipients();
				top.className = 'ok';
				top.textContent = 'Queued: message ' + id + '. The Sent ' +
				    'page shows when it is delivered and acknowledged.';
				top.focus();
			});
		}).catch(function () {});
	}

	function drawDecide() {
		return api('/api/allowed').then(function (r) {
			var al = r.body, f, top, c = {}, b;

			clear(main);
			main.appendChild(el('h1', {}, 'Record a decision not to ' +
			    'share'));
			main.appendChild(el('p', {}, 'A decision not to share is ' +
			    'kept in the partnership\'s audit trail, with its reason, ' +
			    'as a share would be. Nothing is sent to anyone.'));
			top = el('p', { id: 'decide-result', tabindex: '-1',
			    role: 'status' });
			main.appendChild(top);
			f = el('form', { id: 'decide-form', novalidate: '' });
			c.type = field(f, 'type', 'What would have been shared',
			    select(al.types.map(function (t) { return t.type; }),
			    undefined, 'type'));
			c.nhs = field(f, 'subject.nhs', 'Child\'s NHS number',
			    el('input', { inputmode: 'numeric', autocomplete: 'off' }));
			c.local = field(f, 'subject.local', 'or, when there is no ' +
			    'NHS number, a local id (AGENCY:ID)',
			    el('input', { autocomplete: 'off' }));
			c.basis = basisFields(f, al);
			b = el('button', { type: 'submit', id: 'decide-button' },
			    'Record the decision');
			f.appendChild(el('p')).appendChild(b);
			main.appendChild(f);
			submitTo('/api/decisions', f, top, function () {
				return { type: c.type.value, outcome: 'NOT_SHARED',
				    priority: 'ROUTINE',
				    subject: subjectValue(c.nhs, c.local),
				    basis: basisValue(c.basis) };
			}, function (id) {
				f.reset();
				c.basis.decided_by.value = S.name;
				top.className = 'ok';
				top.textContent = 'Recorded in the partnership\'s audit ' +
				    'trail. It is listed on the Sent page (reference ' +
				    id.slice(0, 8) + ').';
				top.focus();
			});
		}).catch(function () {});
	}

	function flagText(name, f) {
		if (!f || (!f.active && !f.since))
			return name + ': no';
		var t = name + ': ' + (f.active ? 'YES' : 'ended') + ', since ' +
		    when(f.since) + ' (from ' + f.from + ')';
		if (f.ended)
			t += ', ended ' + when(f.ended) + ' by ' + f.ended_by;
		return t;
	}

	function drawChild() {
		var f, top, nhs, local, out;

		clear(main);
		main.appendChild(el('h1', {}, 'Child'));
		main.appendChild(el('p', {}, 'What this agency holds about a ' +
		    'child: the child protection plan, looked-after and missing ' +
		    'flags, and every message sent, received or recorded.'));
		top = el('p', { id: 'child-result', tabindex: '-1',
		    role: 'status' });
		f = el('form', { id: 'child-form', novalidate: '' });
		nhs = field(f, 'nhs', 'NHS number', el('input',
		    { inputmode: 'numeric', autocomplete: 'off' }));
		local = field(f, 'local', 'or a local id (AGENCY:ID)',
		    el('input', { autocomplete: 'off' }));
		f.appendChild(el('p')).appendChild(el('button', { type: 'submit',
		    id: 'child-button' }, 'Look up'));
		main.appendChild(f);
		main.appendChild(top);
		out = el('div', { id: 'child' });
		main.appendChild(out);
		f.addEventListener('submit', function (e) {
			e.preventDefault();
			clearErrors(f);
			top.textContent = '';
			clear(out);
			var q = local.value ? 'local=' + encodeURIComponent(local.value) :
			    'nhs=' + encodeURIComponent(nhs.value.replace(/\s+/g, ''));
			api('/api/children?' + q).then(function (r) {
				var c = r.body;
				if (r.status !== 200) {
					showError(f, top, c.error || { message: 'Refused.' });
					return;
				}
				var fl = el('ul', { id: 'child-flags' });
				fl.appendChild(el('li', {}, flagText('Child protection plan',
				    c.flags.cp_plan)));
				fl.appendChild(el('li', {}, flagText('Looked after',
				    c.flags.looked_after)));
				fl.appendChild(el('li', {}, flagText('Missing',
				    c.flags.missing)));
				out.appendChild(el('h2', {}, 'Flags'));
				out.appendChild(fl);
				out.appendChild(el('h2', {}, 'Chronology'));
				if (!c.chronology.length) {
					out.appendChild(el('p', {}, 'Nothing held about this ' +
					    'child.'));
					return;
				}
				var ul = el('ul', { id: 'child-chronology' });
				c.chronology.forEach(function (m) {
					var dec = m.direction === 'decision';
					var li = el('li', {}, when(m.at) + ': ' +
					    (dec ? 'decision not to share a' : m.direction) +
					    ' ' + words('type', m.type).toLowerCase() +
					    (m.other_party ? ' (' +
					    m.other_party + ')' : '') + ', ' +
					    (dec && m.status === 'accepted' ? 'recorded' :
					    m.status) +
					    (m.do_not_contact_family ?
					    ', DO NOT CONTACT FAMILY' : ''));
					if (m.direction === 'received') {
						li.appendChild(document.createTextNode(' '));
						li.appendChild(el('a', { href: '/message/' + m.id },
						    'open'));
					}
					ul.appendChild(li);
				});
				out.appendChild(ul);
				var nhsNo = /^nhs:(\d{3})(\d{3})(\d{4})$/.exec(c.subject);
				top.textContent = 'Found: ' + (nhsNo ? 'NHS number ' +
				    nhsNo.slice(1).join(' ') : c.subject) + '.';
			}).catch(function () {});
		});
		return Promise.resolve();
	}


	/* ---- sent messages and their timelines -------------------------- */

	function timelineText(e) {
		var s = e.status;
		if (e.status === 'rejected')
			s += (e.to ? ' by ' + e.to : '') + ' (' + e.code + ': ' +
			    e.message + ')';
		if (e.status === 'delivered' && e.to)
			s += ' to ' + e.to;
		if (e.status === 'acknowledged')
			s += ' by ' + e.by + (e.node ? ' at ' + e.node : '');
		if (e.status === 'escalated' && e.node)
			s += ' at ' + e.node;
		if (e.status === 'retracted')
			s += ' (' + e.reason + ', decided by ' + e.decided_by + ')';
		if (e.status === 'withdrawn')
			s += ' before delivery to ' + e.to + ': never delivered';
		if (e.status === 'retraction_delivered')
			s += ': ' + e.to + ' confirmed it applied the retraction';
		return when(e.at) + ': ' + s;
	}

	function drawSent(passive) {
		var q = '/api/sent' + (S.sentOffset ? '?offset=' + S.sentOffset : '');

		return api(q, passive ? { headers: { 'X-Haven-Passive': '1' } } :
		    {}).then(function (r) {
			var p = r.body, tbl, tb, hr, pager, prev, next;

			clear(main);
			main.appendChild(el('h1', {}, 'Sent'));
			if (r.status !== 200) {
				main.appendChild(el('p', { 'class': 'error' },
				    p.error ? p.error.message : 'Cannot list them.'));
				return;
			}
			main.appendChild(el('p', { id: 'sent-total' }, p.total +
			    ' sent message' + (p.total === 1 ? '' : 's') +
			    ' and decisions, newest first.'));
			if (p.messages.length === 0)
				return;
			tbl = el('table', { id: 'sent' });
			hr = el('tr');
			['Sent', 'Type', 'To', 'Status', 'Timeline'].forEach(
			    function (t) { hr.appendChild(el('th', { scope: 'col' },
			    t)); });
			tbl.appendChild(el('thead')).appendChild(hr);
			tb = el('tbody');
			p.messages.forEach(function (m) {
				var tr = el('tr', { 'data-id': m.id });
				tr.appendChild(el('td', { 'class': 'when' },
				    when(m.created)));
				tr.appendChild(el('td', {}, m.kind === 'decision' ?
				    'Decision not to share: ' + words('type',
				    m.type).toLowerCase() : m.priority + ': ' +
				    words('type', m.type)));
				tr.appendChild(el('td', {}, (m.to || []).join(', ') ||
				    '—'));
				/* A decision goes nowhere: "accepted" means audited. */
				tr.appendChild(el('td', { 'class': 'status' },
				    m.kind === 'decision' && m.status === 'accepted' ?
				    'recorded in the audit trail' : m.status));
				var tl = el('td'), ul = el('ul', { 'class': 'timeline' });
				(m.timeline || []).forEach(function (e) {
					ul.appendChild(el('li', {}, timelineText(e)));
				});
				if (m.retraction) {
					if (m.retraction.note)
						ul.appendChild(el('li', {}, 'Retraction note: ' +
						    m.retraction.note));
					m.retraction.recipients.forEach(function (x) {
						if (x.outcome === 'pending')
							ul.appendChild(el('li', {}, x.to + ': ' +
							    x.text));
					});
				}
				tl.appendChild(ul);
				tr.appendChild(tl);
				tb.appendChild(tr);
			});
			tbl.appendChild(tb);
			main.appendChild(tbl);
			pager = el('div', { 'class': 'pager' });
			prev = el('button', { type: 'button', 'class': 'secondary' },
			    'Newer');
			prev.disabled = !S.sentOffset;
			prev.addEventListener('click', function () {
				S.sentOffset = Math.max(0, (S.sentOffset || 0) - 20);
				drawSent();
			});
			next = el('button', { type: 'button', 'class': 'secondary' },
			    'Older');
			next.disabled = p.next_offset === undefined;
			next.addEventListener('click', function () {
				S.sentOffset = p.next_offset;
				drawSent();
			});
			pager.appendChild(prev);
			pager.appendChild(next);
			if (S.sentOffset || p.next_offset !== undefined)
				main.appendChild(pager);
		}).catch(function () {});
	}

	/* ---- status and the integrity banner --------------------------- */

	function checkIntegrity() {
		return api('/api/status', { headers: { 'X-Haven-Passive': '1' } })
		    .then(function (r) {
			var ig = r.body.integrity || {};
			var b = document.getElementById('integrity');

			if (ig.ok === false) {
				b.textContent = 'Audit trail warning: the partnership\'s ' +
				    'record of shares no longer matches what this agent ' +
				    'checked before, so it may have been changed. ' +
				    'Messages still arrive. Tell your IG officer today. ' +
				    'Detail: ' + (ig.message || ig.code);
				b.hidden = false;
			} else
				b.hidden = true;
			return r.body;
		});
	}

	function drawStatus() {
		return checkIntegrity().then(function (h) {
			var ig = h.integrity || {};

			clear(main);
			main.appendChild(el('h1', {}, 'Status'));
			main.appendChild(facts([
			    ['This agency', h.node],
			    ['Broker connected', h.broker_connected ? 'yes' :
				'NO: messages wait here until it is back'],
			    ['Waiting to be sent', h.outbox_depth],
			    ['Unacknowledged', h.inbox_unacked],
			    ['Partnership directory version', h.directory_version],
			    ['Audit integrity', ig.ok === false ? 'FAILED: ' +
				(ig.message || ig.code) : 'ok: the broker\'s record ' +
				'matches what this agent checked']]));
		}).catch(function () {});
	}

	/* ---- start -------------------------------------------------------- */

	function route() {
		var path = location.pathname, m;

		document.querySelectorAll('nav a').forEach(function (a) {
			if (a.getAttribute('href') === path)
				a.setAttribute('aria-current', 'page');
		});
		if (path === '/status')
			return drawStatus();
		if (path === '/send')
			return drawSend();
		if (path === '/decide')
			return drawDecide();
		if (path === '/child')
			return drawChild();
		if (path === '/sent')
			return drawSent();
		if ((m = /^\/message\/([0-9a-fA-F]{32})$/.exec(path)))
			return drawMessage(m[1].toLowerCase());
		return drawAlerts();
	}

	function live() {
		var es = new EventSource('/api/events');

		S.es = es;
		function onEvent(kind) {
			return function (e) {
				var ev = {};
				try { ev = JSON.parse(e.data); } catch (x) { /* skip */ }
				if ((kind === 'message' || kind === 'escalation') &&
				    ev.priority === 'IMMEDIATE')
					announce(ev);
				if (kind === 'integrity')
					checkIntegrity().catch(function () {});
				if (location.pathname === '/')
					drawAlerts(true);
				if (location.pathname === '/sent' &&
				    kind === 'receipt')
					drawSent(true);
			};
		}
		es.addEventListener('message', onEvent('message'));
		es.addEventListener('escalation', onEvent('escalation'));
		es.addEventListener('integrity', onEvent('integrity'));
		es.addEventListener('receipt', onEvent('receipt'));
		es.addEventListener('error', function () {
			/* The stream ends with the session: ask, without
			 * restarting the idle clock. */
			passiveCheck();
		});
	}

	function passiveCheck() {
		return api('/api/session', { headers: { 'X-Haven-Passive': '1' } })
		    .catch(function () {});
	}

	api('/api/session').then(function (r) {
		return api('/api/words').then(function (w) {
			Object.keys(w.body || {}).forEach(function (k) {
				WORDS[k] = w.body[k];
			});
			return r;
		}, function () { return r; });
	}).then(function (r) {
		S.csrf = r.body.csrf;
		S.role = r.body.role;
		S.name = r.body.name;
		document.getElementById('logout-csrf').value = S.csrf;
		document.getElementById('who').textContent = S.name + ' (' +
		    S.role + ')';
		document.getElementById('node').textContent = r.body.node;
		live();
		route();
		checkIntegrity().catch(function () {});
		S.timers.push(setInterval(drawCountdowns, 1000));
		/* Notices the idle timeout without counting as activity. */
		S.timers.push(setInterval(passiveCheck, 1000));
	}).catch(function () {});
})();
