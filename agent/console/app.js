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

	function drawCountdowns() {
		document.querySelectorAll('[data-deadline]').forEach(function (e) {
			var c = countdown(e.getAttribute('data-deadline'));
			e.textContent = c.rag + ' ' + c.text;
			e.className = 'rag-' + c.rag;
		});
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
	function objectFacts(o) {
		if (o === null || typeof o !== 'object')
			return el('p', {}, o === null ? '—' : String(o));
		return facts(Object.keys(o).map(function (k) {
			var v = o[k];
			return [k, typeof v === 'object' && v !== null ?
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
		box.textContent = 'IMMEDIATE ' + (ev.type || 'message') +
		    ' from ' + (ev.sender || 'another agency') +
		    (ev.escalated ? ' (escalated)' : '') + ': open the alerts.';
		beep();
	}

	/* ---- alerts (start page) --------------------------------------- */

	function drawAlerts() {
		var cur = S.cursors[S.page];
		var q = '/api/alerts' + (cur ? '?cursor=' +
		    encodeURIComponent(cur) : '');

		return api(q).then(function (r) {
			var p = r.body, h1, tbl, tb, pager, prev, next;

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
				tr.appendChild(el('td', {}, m.type));
				tr.appendChild(el('td', {}, m.sender));
				tr.appendChild(el('td', {}, when(m.received_at)));
				var dl = el('td');
				if (m.deadline)
					dl.appendChild(el('span', { 'data-deadline':
					    m.deadline }));
				else
					dl.textContent = 'no deadline';
				tr.appendChild(dl);
				var open = el('td');
				open.appendChild(el('a', { href: '/message/' + m.id },
				    'Open ' + m.type + ' from ' + m.sender));
				tr.appendChild(open);
				tb.appendChild(tr);
			});
			tbl.appendChild(tb);
			main.appendChild(tbl);
			pager = el('div', { 'class': 'pager' });
			prev = el('button', { type: 'button', 'class': 'secondary' },
			    'Previous page');
			prev.disabled = S.page === 0;
			prev.addEventListener('click', function () {
				S.page--;
				drawAlerts();
			});
			next = el('button', { type: 'button', 'class': 'secondary' },
			    'Next page');
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
			if (m.do_not_contact_family)
				main.appendChild(el('p', { 'class': 'dncf', id: 'dncf' },
				    'DO NOT CONTACT FAMILY'));
			main.appendChild(el('h1', {}, m.priority + ' ' + m.type +
			    ' from ' + m.sender));
			if (m.escalated)
				main.appendChild(el('p', {}, '')).appendChild(
				    el('span', { 'class': 'escalated' }, 'ESCALATED'));
			if (m.error)
				main.appendChild(el('p', { 'class': 'error' },
				    m.error.message));
			main.appendChild(el('h2', {}, 'Child'));
			main.appendChild(objectFacts(m.child));
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
			var dl = m.deadline ? el('span', { 'data-deadline':
			    m.deadline }) : 'no deadline';
			main.appendChild(facts([['From', m.sender],
			    ['Received', when(m.received_at)],
			    ['Sent', when(m.created)],
			    ['Deadline', dl],
			    ['Reply to', m.reply_to]]));
			main.appendChild(el('h2', {}, 'Lawful basis'));
			main.appendChild(facts([['Consent', m.basis.consent],
			    ['Article 6', m.basis.art6], ['Article 9', m.basis.art9],
			    ['Justification', m.basis.justification],
			    ['Decided by', m.basis.decided_by]]));
			main.appendChild(el('h2', {}, 'Acknowledgement'));
			var acks = el('ul', { id: 'acks' });
			(m.acks || []).forEach(function (a) {
				acks.appendChild(el('li', {}, 'Acknowledged by ' + a.by +
				    ' at ' + when(a.at) + (a.note ? ': ' + a.note : '')));
			});
			main.appendChild(acks);
			if (!m.acknowledged && S.role === 'duty')
				main.appendChild(ackForm(id));
			else if (!m.acknowledged)
				main.appendChild(el('p', {}, 'Not acknowledged yet. ' +
				    'A viewer cannot acknowledge; a duty user can.'));
			drawCountdowns();
		}).catch(function () {});
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

	/* ---- status and the integrity banner --------------------------- */

	function checkIntegrity() {
		return api('/api/status').then(function (r) {
			var ig = r.body.integrity || {};
			var b = document.getElementById('integrity');

			if (ig.ok === false) {
				b.textContent = 'Audit integrity failure: ' +
				    (ig.message || ig.code || 'the broker\'s audit ' +
				    'history does not match what this agent saw') +
				    ' Tell the partnership\'s IG officer.';
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
			    ['Node', h.node],
			    ['Broker connected', h.broker_connected ? 'yes' : 'NO'],
			    ['Outbox depth', h.outbox_depth],
			    ['Unacknowledged', h.inbox_unacked],
			    ['Directory version', h.directory_version],
			    ['Audit integrity', ig.ok === false ? 'FAILED: ' +
				(ig.message || ig.code) : 'ok']]));
		}).catch(function () {});
	}

	/* ---- start -------------------------------------------------------- */

	function route() {
		var path = location.pathname, m;

		if (path === '/status')
			return drawStatus();
		if ((m = /^\/message\/([0-9a-f]{32})$/.exec(path)))
			return drawMessage(m[1]);
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
					drawAlerts();
			};
		}
		es.addEventListener('message', onEvent('message'));
		es.addEventListener('escalation', onEvent('escalation'));
		es.addEventListener('integrity', onEvent('integrity'));
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
