/*
 * tapline live transcript page: talks to ts-broadcast over /ws as written
 * in ts-broadcast(1) (hello, history, sync, live events; every event has
 * an id). Plain JavaScript, no build step, nothing loaded from elsewhere.
 *
 * Speaker labels come from the call's custom parameters, first match wins:
 *   inbound track  (the far end):     inbound_label, caller
 *   outbound track (what is sent to it): outbound_label, callee, agent
 * and are "Caller" and "Callee" when none is given.
 *
 * The page URL may carry ?call=CA... to watch one call only; a selected
 * call is kept in the fragment (#CA...) so a reload shows it again.
 */
'use strict';

(function () {

const LABEL_KEYS = {
	inbound: ['inbound_label', 'caller'],
	outbound: ['outbound_label', 'callee', 'agent'],
};
const DEFAULT_LABEL = { inbound: 'Caller', outbound: 'Callee' };
const BACKOFF_FIRST = 500;	/* ms */
const BACKOFF_MAX = 10000;	/* ms */
const STICK_SLACK = 48;		/* px from the bottom that still counts */
const E164 = /^\+[1-9][0-9]{6,14}$/;	// as the server checks it
const MAX_CALLS = 200;		/* a page left open keeps at most these */

/*
 * State. calls: call_sid -> call (as in hello.calls, plus status).
 * lines: call_sid -> Map(key -> line), key "stream|track|seq" for
 * transcripts, "e<id>" for error notes. streamStart: stream_sid -> ms.
 * lastId: the highest event id applied; an event at or below it has been
 * seen already and is dropped, which is what keeps a resumed page free of
 * duplicates.
 */
const calls = new Map();
const lines = new Map();
const streamStart = new Map();
let callsSeen = 0;
let lastId = 0;
let selected = null;
let userPicked = false;
let wanted = null;		/* a call just placed from the dial form */

let ws = null;
let attempt = 0;
let retryTimer = 0;
let synced = false;

const $ = (id) => document.getElementById(id);
const el = {
	conn: $('conn'), connText: $('conn-text'), connWait: $('conn-wait'),
	dial: $('dial'), dialTo: $('dial-to'), dialOut: $('dial-out'),
	dialGo: $('dial-go'),
	list: $('call-list'), noCalls: $('no-calls'),
	title: $('conv-title'), meta: $('conv-meta'),
	scroller: $('scroller'), lines: $('lines'), convEmpty: $('conv-empty'),
	jump: $('jump'), announce: $('announce'),
	downloads: document.querySelectorAll('.downloads button'),
};

const pageParams = new URLSearchParams(location.search);
const watchOne = pageParams.get('call');

/* ---- small helpers ------------------------------------------------- */

function node(tag, cls, text) {
	const n = document.createElement(tag);
	if (cls)
		n.className = cls;
	if (text !== undefined)
		n.textContent = text;
	return n;
}

function pad(n, w) {
	return String(n).padStart(w || 2, '0');
}

/* Seconds as m:ss, or h:mm:ss past an hour. */
function clock(sec) {
	sec = Math.max(0, Math.floor(sec));
	const h = Math.floor(sec / 3600);
	const m = Math.floor(sec / 60) % 60;
	const s = sec % 60;
	return h ? h + ':' + pad(m) + ':' + pad(s) : m + ':' + pad(s);
}

function srtTime(sec) {
	const ms = Math.max(0, Math.round(sec * 1000));
	return pad(Math.floor(ms / 3600000)) + ':' +
	    pad(Math.floor(ms / 60000) % 60) + ':' +
	    pad(Math.floor(ms / 1000) % 60) + ',' + pad(ms % 1000, 3);
}

function parseTs(ts) {
	const t = Date.parse(ts);
	return Number.isFinite(t) ? t : null;
}

function wallTime(ms) {
	return new Date(ms).toLocaleTimeString([], { hour: '2-digit',
	    minute: '2-digit', second: '2-digit' });
}

function wallDate(ms) {
	const d = new Date(ms);
	const today = new Date();
	if (d.toDateString() === today.toDateString())
		return wallTime(ms);
	return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) +
	    ' ' + wallTime(ms);
}

function label(call, track) {
	const p = (call && call.params) || {};
	for (const k of LABEL_KEYS[track] || []) {
		if (typeof p[k] === 'string' && p[k].trim() !== '')
			return p[k].trim();
	}
	return DEFAULT_LABEL[track] || track;
}

/* Who is on the call, for the list: the labels when the parameters name
 * anyone, else the call's sid. */
function who(call) {
	const p = call.params || {};
	const named = ['inbound', 'outbound'].some((t) =>
	    LABEL_KEYS[t].some((k) => typeof p[k] === 'string' && p[k]));
	if (named)
		return label(call, 'inbound') + ' ↔ ' +
		    label(call, 'outbound');
	if (typeof p.to === 'string' && p.to)
		return (p.from ? p.from + ' → ' : '→ ') + p.to;
	return call.call_sid;
}

/* ---- the model ----------------------------------------------------- */

function getCall(sid) {
	let c = calls.get(sid);
	if (!c) {
		c = { call_sid: sid, stream_sid: null, params: {},
		    tracks: ['inbound', 'outbound'], start_ts: null,
		    stop_ts: null, live: false, reason: null, status: null,
		    order: ++callsSeen };
		calls.set(sid, c);
	}
	return c;
}

function mergeCall(info) {
	if (!info || typeof info.call_sid !== 'string')
		return;
	if (watchOne && info.call_sid !== watchOne)
		return;		/* hello lists every call; we follow one */
	const c = getCall(info.call_sid);
	for (const k of ['stream_sid', 'account_sid', 'tracks', 'params',
	    'start_ts', 'stop_ts', 'live', 'reason']) {
		if (info[k] !== undefined)
			c[k] = info[k];
	}
	if (c.stream_sid && c.start_ts && parseTs(c.start_ts) !== null)
		streamStart.set(c.stream_sid, parseTs(c.start_ts));
}

function resetAll() {
	calls.clear();
	lines.clear();
	streamStart.clear();
	lastId = 0;
	el.list.replaceChildren();
	el.lines.replaceChildren();
}

/* The order of lines in a conversation: by start, then by end, then the
 * inbound track first, then seq, so every page shows the same order even
 * for lines that start together. */
const TRACK_ORDER = { inbound: 0, outbound: 1 };

function before(a, b) {
	return (a.at - b.at) || (a.endAt - b.endAt) ||
	    ((TRACK_ORDER[a.track] ?? 2) - (TRACK_ORDER[b.track] ?? 2)) ||
	    ((a.seq ?? 0) - (b.seq ?? 0));
}

/* Time of a line in ms since the epoch, which orders lines of one call
 * even across streams: the stream's start plus the audio offset.  When
 * the server no longer knows how the call started (it lost its history)
 * the offset alone is all there is: at is then ms from the stream start. */
function lineTime(ev, call) {
	const base = streamStart.get(ev.stream_sid) ??
	    (call.start_ts ? parseTs(call.start_ts) : null);
	if (typeof ev.start === 'number')
		return (base ?? 0) + ev.start * 1000;
	return parseTs(ev.ts) ?? Date.now();
}

/* Where offsets into the call count from, in the units of lineTime(). */
function callStartMs(call) {
	const t = call.start_ts ? parseTs(call.start_ts) : null;
	if (t !== null)
		return t;
	let min = null;
	for (const l of (lines.get(call.call_sid) || new Map()).values()) {
		if (l.kind === 'speech' && (min === null || l.at < min))
			min = l.at;
	}
	/* offsets alone (see lineTime) are small numbers: count from 0 */
	return min !== null && min < 864e5 ? 0 : min;
}

function apply(ev) {
	if (typeof ev.id === 'number') {
		if (ev.id <= lastId)
			return;		/* seen before this reconnect */
		lastId = ev.id;
	}
	const sid = ev.call_sid;
	if (watchOne && sid !== undefined && sid !== watchOne)
		return;
	switch (ev.type) {
	case 'call.start': {
		const fresh = !calls.has(sid) || !calls.get(sid).start_ts;
		mergeCall({ call_sid: sid, stream_sid: ev.stream_sid,
		    account_sid: ev.account_sid, tracks: ev.tracks,
		    params: ev.params || {}, start_ts: ev.ts, stop_ts: null,
		    live: true, reason: null });
		prune();
		if (sid === wanted) {
			wanted = null;
			select(sid, true);
		} else if (fresh && synced && !userPicked) {
			select(sid, false);
		}
		renderCall(sid);
		break;
	}
	case 'call.stop':
		if (typeof sid !== 'string')
			break;
		mergeCall({ call_sid: sid, stop_ts: ev.ts, live: false,
		    reason: ev.reason ?? null });
		renderCall(sid);
		break;
	case 'call.status':
		if (typeof sid !== 'string')
			break;
		getCall(sid).status = ev.status;
		renderCall(sid);
		break;
	case 'transcript':
		if (typeof sid === 'string')
			transcript(ev);
		break;
	case 'error':
		if (typeof sid === 'string')
			errorNote(ev);
		break;
	default:
		break;		/* events we do not know are ignored */
	}
}

/* The lines of a call, and the call, made up when its start is no longer
 * kept by the server. */
function callLines(sid) {
	if (!calls.has(sid)) {
		getCall(sid);
		renderCall(sid);
	}
	let m = lines.get(sid);
	if (!m) {
		m = new Map();
		lines.set(sid, m);
	}
	return m;
}

function transcript(ev) {
	const m = callLines(ev.call_sid);
	const call = calls.get(ev.call_sid);
	const key = ev.stream_sid + '|' + ev.track + '|' + ev.seq;
	const old = m.get(key);
	/* A final is never taken back by a late interim of the same seq. */
	if (old && old.final && !ev.final)
		return;
	const line = {
		key, kind: 'speech', call_sid: ev.call_sid,
		stream_sid: ev.stream_sid, track: ev.track, seq: ev.seq,
		final: !!ev.final, text: String(ev.text ?? ''),
		start: ev.start, end: ev.end, confidence: ev.confidence,
		words: ev.words, ts: ev.ts, at: lineTime(ev, call),
		el: old ? old.el : null,
	};
	line.endAt = line.at;
	if (typeof ev.end === 'number' && typeof ev.start === 'number')
		line.endAt += (ev.end - ev.start) * 1000;
	m.set(key, line);
	if (ev.call_sid !== selected)
		return;
	drawLine(line, call);
	updateDownloads();
	/* history is not read out, only what is said from now on */
	if (synced && line.final && !(old && old.final))
		announce(label(call, line.track) + ': ' + line.text);
}

function errorNote(ev) {
	const m = callLines(ev.call_sid);
	const call = calls.get(ev.call_sid);
	const key = 'e' + (ev.id ?? m.size);
	const line = {
		key, kind: 'error', track: ev.track, final: true,
		text: (ev.track ? label(call, ev.track) + ' track: ' : '') +
		    (ev.source ? ev.source + ': ' : '') +
		    [ev.code, ev.message].filter(Boolean).join(' '),
		at: parseTs(ev.ts) ?? Date.now(), el: null,
	};
	line.endAt = line.at;
	m.set(key, line);
	if (ev.call_sid === selected)
		drawLine(line, call);
}

/* A page left open for days forgets the oldest ended calls, as the
 * server does. */
function prune() {
	if (calls.size <= MAX_CALLS)
		return;
	const old = [...calls.values()].filter((c) => !c.live &&
	    c.call_sid !== selected).sort((a, b) => newer(b, a));
	for (const c of old.slice(0, calls.size - MAX_CALLS)) {
		calls.delete(c.call_sid);
		lines.delete(c.call_sid);
		if (c.stream_sid)
			streamStart.delete(c.stream_sid);
		const li = el.list.querySelector('[data-call="' +
		    CSS.escape(c.call_sid) + '"]');
		if (li)
			li.remove();
	}
}

/* ---- the call list ------------------------------------------------- */

function badge(call) {
	if (call.live)
		return ['live', 'Live'];
	if (call.stop_ts)
		return ['ended', 'Ended'];
	return ['pending', call.status ? String(call.status) : 'Pending'];
}

function duration(call) {
	const a = call.start_ts ? parseTs(call.start_ts) : null;
	if (a === null)
		return '';
	const b = call.stop_ts ? parseTs(call.stop_ts) : null;
	return clock(((call.live || b === null ? Date.now() : b) - a) / 1000);
}

function sortKey(call) {
	return (call.start_ts && parseTs(call.start_ts)) || 0;
}

/* Newest first: by start, then by when this page first heard of it
 * (hello lists calls oldest first). */
function newer(a, b) {
	return (sortKey(b) - sortKey(a)) || (b.order - a.order);
}

function renderCall(sid) {
	const call = calls.get(sid);
	if (!call)
		return;
	const sel = '[data-call="' + CSS.escape(sid) + '"]';
	let li = el.list.querySelector(sel);
	if (!li) {
		li = node('li');
		li.dataset.call = sid;
		const b = node('button', 'call');
		b.type = 'button';
		b.append(node('span', 'who'), node('span', 'badge'),
		    node('span', 'when'), node('span', 'dur'));
		b.addEventListener('click', () => select(sid, true));
		b.addEventListener('keydown', listKeys);
		li.append(b);
	}
	const b = li.firstChild;
	const [cls, text] = badge(call);
	b.querySelector('.who').textContent = who(call);
	b.querySelector('.who').title = sid;
	const bd = b.querySelector('.badge');
	bd.className = 'badge ' + cls;
	bd.textContent = text;
	const t = call.start_ts ? parseTs(call.start_ts) : null;
	const when = b.querySelector('.when');
	when.textContent = t !== null ? wallDate(t) : '';
	b.querySelector('.dur').textContent = duration(call);
	b.setAttribute('aria-current', sid === selected ? 'true' : 'false');
	/* newest first */
	let next = null;
	for (const o of el.list.children) {
		if (o !== li && newer(call, calls.get(o.dataset.call)) < 0) {
			next = o;
			break;
		}
	}
	if (li.nextSibling !== next || li.parentNode !== el.list)
		el.list.insertBefore(li, next);
	el.noCalls.hidden = calls.size > 0;
	if (sid === selected)
		renderHead();
}

function listKeys(e) {
	const li = e.currentTarget.parentNode;
	let to = null;
	if (e.key === 'ArrowDown')
		to = li.nextElementSibling;
	else if (e.key === 'ArrowUp')
		to = li.previousElementSibling;
	else if (e.key === 'Home')
		to = el.list.firstElementChild;
	else if (e.key === 'End')
		to = el.list.lastElementChild;
	if (to) {
		e.preventDefault();
		to.firstChild.focus();
	}
}

/* Durations of live calls tick. */
setInterval(() => {
	for (const c of calls.values()) {
		if (!c.live)
			continue;
		const li = el.list.querySelector('[data-call="' +
		    CSS.escape(c.call_sid) + '"]');
		if (li)
			li.querySelector('.dur').textContent = duration(c);
		if (c.call_sid === selected)
			renderHead();
	}
}, 1000);

/* ---- the conversation ---------------------------------------------- */

function select(sid, byUser) {
	if (byUser)
		userPicked = true;
	if (!calls.has(sid))
		return;
	selected = sid;
	if (history.replaceState)
		history.replaceState(null, '', location.pathname +
		    location.search + '#' + encodeURIComponent(sid));
	for (const b of el.list.querySelectorAll('button.call')) {
		b.setAttribute('aria-current',
		    b.parentNode.dataset.call === sid ? 'true' : 'false');
	}
	el.lines.replaceChildren();
	const call = calls.get(sid);
	const m = lines.get(sid);
	if (m) {
		const all = [...m.values()].sort(before);
		for (const l of all) {
			l.el = null;
			drawLine(l, call, true);
		}
	}
	renderHead();
	updateDownloads();
	stick = true;
	scrollToEnd();
}

function renderHead() {
	const call = selected && calls.get(selected);
	if (!call) {
		el.title.textContent = calls.size ? 'No call selected' :
		    'Waiting for a call';
		el.meta.textContent = '';
		el.convEmpty.textContent = calls.size ?
		    'Choose a call from the list.' :
		    'A call appears here as soon as it starts.';
		el.convEmpty.hidden = false;
		return;
	}
	el.convEmpty.textContent = 'Nothing said yet.';
	el.title.textContent = who(call);
	const parts = [];
	const [, text] = badge(call);
	parts.push(text);
	const t = call.start_ts ? parseTs(call.start_ts) : null;
	if (t !== null)
		parts.push('started ' + wallDate(t));
	const d = duration(call);
	if (d)
		parts.push(d);
	if (who(call) !== call.call_sid)
		parts.push(call.call_sid);
	el.meta.textContent = parts.join(' · ');
	el.convEmpty.hidden = el.lines.children.length > 0;
}

/* the line each element of the conversation shows */
const drawn = new WeakMap();

function drawLine(line, call, bulk) {
	let li = line.el;
	const isNew = !li;
	if (isNew) {
		li = node('li');
		li.dataset.key = line.key;
		if (line.kind === 'error') {
			li.className = 'note';
			li.append(node('p', 'note-text'));
		} else {
			const head = node('p', 'who');
			head.append(node('span', 'speaker'), ' ',
			    node('time', 'at'));
			li.append(head, node('p', 'text'));
		}
		line.el = li;
	}
	if (line.kind === 'error') {
		li.querySelector('.note-text').textContent = line.text;
	} else {
		li.className = 'utt ' + (line.track === 'outbound' ?
		    'outbound' : 'inbound') + (line.final ? '' : ' interim');
		li.querySelector('.speaker').textContent =
		    label(call, line.track);
		const tm = li.querySelector('.at');
		const t0 = callStartMs(call);
		tm.textContent = t0 !== null ?
		    clock((line.at - t0) / 1000) : '';
		tm.dateTime = new Date(line.at).toISOString();
		tm.title = wallTime(line.at);
		const tx = li.querySelector('.text');
		tx.textContent = line.text;
		if (!line.final) {
			tx.append(node('span', 'sr-only',
			    ' (still being heard)'));
		}
	}
	/* keep the list in order; new lines nearly always go last */
	const pos = line.at + ' ' + line.endAt;
	if (isNew || li.dataset.pos !== pos) {
		li.dataset.pos = pos;
		drawn.set(li, line);
		let next = null;
		if (!bulk) {
			for (let o = el.lines.lastElementChild; o;
			    o = o.previousElementSibling) {
				if (o === li)
					continue;
				if (before(drawn.get(o), line) <= 0)
					break;
				next = o;
			}
		}
		if (isNew || li.nextElementSibling !== next)
			el.lines.insertBefore(li, next);
	}
	el.convEmpty.hidden = true;
	if (!bulk)
		followOrFlag();
}

function announce(text) {
	el.announce.append(node('p', '', text));
	while (el.announce.childElementCount > 3)
		el.announce.firstElementChild.remove();
}

/* Auto-scroll: follow the end while the reader is there; once they scroll
 * up, stay put and offer "jump to live" until they come back down. */
let stick = true;

function atEnd() {
	const s = el.scroller;
	return s.scrollHeight - s.scrollTop - s.clientHeight <= STICK_SLACK;
}

function scrollToEnd() {
	el.scroller.scrollTop = el.scroller.scrollHeight;
	el.jump.hidden = true;
}

function followOrFlag() {
	if (stick)
		scrollToEnd();
	else
		el.jump.hidden = false;
}

el.scroller.addEventListener('scroll', () => {
	stick = atEnd();
	if (stick)
		el.jump.hidden = true;
}, { passive: true });

el.jump.addEventListener('click', () => {
	stick = true;
	el.scroller.scrollTo({ top: el.scroller.scrollHeight });
	el.jump.hidden = true;
	el.scroller.focus({ preventScroll: true });
});

/* ---- downloads (built here from the finals) ------------------------ */

function finals(sid) {
	const m = lines.get(sid);
	if (!m)
		return [];
	return [...m.values()].filter((l) => l.kind === 'speech' && l.final &&
	    l.text !== '').sort(before);
}

function updateDownloads() {
	const n = selected ? finals(selected).length : 0;
	for (const b of el.downloads)
		b.disabled = n === 0;
}

function exportAs(fmt) {
	const call = calls.get(selected);
	if (!call)
		return;
	const fl = finals(selected);
	const t0 = callStartMs(call) ?? (fl.length ? fl[0].at : 0);
	const rel = (l) => (l.at - t0) / 1000;
	const relEnd = (l) => rel(l) + (typeof l.end === 'number' &&
	    typeof l.start === 'number' ? Math.max(0, l.end - l.start) : 2);
	let body, type;
	if (fmt === 'txt') {
		body = fl.map((l) => '[' + clock(rel(l)) + '] ' +
		    label(call, l.track) + ': ' + l.text + '\n').join('');
		type = 'text/plain';
	} else if (fmt === 'srt') {
		body = fl.map((l, i) => (i + 1) + '\n' + srtTime(rel(l)) +
		    ' --> ' + srtTime(relEnd(l)) + '\n' +
		    label(call, l.track) + ': ' + l.text + '\n\n').join('');
		type = 'application/x-subrip';
	} else {
		body = JSON.stringify({
			call_sid: call.call_sid, stream_sid: call.stream_sid,
			params: call.params, start_ts: call.start_ts,
			stop_ts: call.stop_ts,
			utterances: fl.map((l) => ({
				stream_sid: l.stream_sid, track: l.track,
				speaker: label(call, l.track), seq: l.seq,
				offset: Math.round(rel(l) * 1000) / 1000,
				start: l.start, end: l.end, text: l.text,
				confidence: l.confidence, words: l.words,
				ts: l.ts,
			})),
		}, null, 2) + '\n';
		type = 'application/json';
	}
	const a = node('a');
	a.href = URL.createObjectURL(new Blob([body], { type }));
	a.download = call.call_sid + '.' + fmt;
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

for (const b of el.downloads)
	b.addEventListener('click', () => exportAs(b.dataset.format));

/* ---- the dial form ------------------------------------------------- */

function dialSay(text, kind) {
	el.dialOut.textContent = text;
	el.dialOut.className = 'dial-out ' + (kind || '');
}

el.dial.addEventListener('submit', async (e) => {
	e.preventDefault();
	const to = el.dialTo.value.replace(/[\s().-]/g, '');
	if (!E164.test(to)) {
		dialSay('Not a number in international format, ' +
		    'e.g. +15551234567.', 'bad');
		el.dialTo.setAttribute('aria-invalid', 'true');
		el.dialTo.focus();
		return;
	}
	el.dialTo.removeAttribute('aria-invalid');
	el.dialGo.disabled = true;
	dialSay('Calling ' + to + '…', 'busy');
	try {
		const r = await fetch('api/calls', {
			method: 'POST', credentials: 'same-origin',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ to }),
		});
		const txt = await r.text();
		let j = null;
		try {
			j = JSON.parse(txt);
		} catch (err) {
			j = null;
		}
		if (r.ok) {
			const o = j && typeof j === 'object' ? j : {};
			const sid = o.sid || o.call_sid;
			dialSay('Call placed to ' + to + (o.status ?
			    ', ' + o.status : '') + '.', 'good');
			/* show it as soon as its stream starts */
			if (typeof sid === 'string') {
				wanted = sid;
				if (calls.has(sid))
					select(sid, true);
			}
			const pre = node('pre', 'dial-json',
			    j ? JSON.stringify(j, null, 2) : txt);
			el.dialOut.append(pre);
		} else {
			const why = j && typeof j.error === 'string' ?
			    j.error : (txt.trim() || r.statusText);
			dialSay('Could not place the call: ' + why +
			    ' (HTTP ' + r.status + ').', 'bad');
		}
	} catch (err) {
		dialSay('Could not reach the server: ' + err.message, 'bad');
	} finally {
		el.dialGo.disabled = false;
	}
});

/* ---- the connection ------------------------------------------------ */

/* The state, read out when it changes; the countdown to the next try is
 * only shown, as reading it out every second would drown everything. */
function setConn(state, text, wait) {
	el.conn.dataset.state = state;
	if (el.connText.textContent !== text)
		el.connText.textContent = text;
	el.connWait.textContent = wait || '';
	document.body.dataset.conn = state;
}

function wsUrl() {
	const u = new URL('ws', location.href);
	u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
	u.search = '';
	u.hash = '';
	if (watchOne)
		u.searchParams.set('call', watchOne);
	if (lastId > 0)
		u.searchParams.set('since', String(lastId));
	return u.toString();
}

function connect() {
	clearTimeout(retryTimer);
	retryTimer = 0;
	synced = false;
	setConn('connecting', attempt ? 'Reconnecting…' : 'Connecting…');
	let sock;
	try {
		sock = new WebSocket(wsUrl());
	} catch (err) {
		retry();
		return;
	}
	ws = sock;
	let opened = false;
	sock.onopen = () => {
		opened = true;
	};
	sock.onmessage = (m) => {
		if (sock !== ws)
			return;
		let ev;
		try {
			ev = JSON.parse(m.data);
		} catch (err) {
			return;
		}
		if (!ev || typeof ev !== 'object')
			return;
		if (ev.type === 'hello')
			hello(ev);
		else if (ev.type === 'sync')
			sync(ev);
		else
			apply(ev);
	};
	sock.onclose = (e) => {
		if (sock !== ws)
			return;
		ws = null;
		synced = false;
		if (!opened || e.code === 1008)
			checkAuth();
		retry(e.code);
	};
}

function hello(h) {
	attempt = 0;
	if (!h.resumed) {
		/* the server could not resume: start again from its history */
		resetAll();
	}
	for (const c of Array.isArray(h.calls) ? h.calls : [])
		mergeCall(c);
	for (const sid of calls.keys())
		renderCall(sid);
	el.noCalls.hidden = calls.size > 0;
	el.dial.hidden = h.dial !== true;
	if (!h.resumed && selected)
		select(selected, false);
	setConn('loading', 'Loading history…');
}

function sync(s) {
	if (typeof s.id === 'number' && s.id > lastId)
		lastId = s.id;
	synced = true;
	setConn('live', 'Connected');
	if (!selected || !calls.has(selected)) {
		const want = decodeURIComponent(location.hash.slice(1)) ||
		    watchOne;
		if (want && calls.has(want)) {
			select(want, false);
		} else {
			const all = [...calls.values()].sort((a, b) =>
			    (b.live - a.live) || newer(a, b));
			if (all.length)
				select(all[0].call_sid, false);
			else
				renderHead();
		}
	}
}

function retry(code) {
	attempt++;
	const base = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1));
	/* jitter, so a restarted server is not hit by every page at once */
	const wait = Math.round(base * (0.5 + Math.random() / 2));
	const why = code === 1001 ? 'Server restarting' :
	    code === 1008 || code === 1013 ? 'Disconnected by the server' :
	    'Disconnected';
	let left = Math.ceil(wait / 1000);
	const show = () => {
		if (el.conn.dataset.state !== 'unauthorized')
			setConn('offline', why + ', retrying',
			    ' in ' + left + ' s');
	};
	show();
	const tick = setInterval(() => {
		left--;
		if (left > 0)
			show();
	}, 1000);
	retryTimer = setTimeout(() => {
		clearInterval(tick);
		connect();
	}, wait);
}

/* A WebSocket refused at the upgrade tells the page nothing; ask over HTTP
 * whether it is a matter of the token, to say so. */
async function checkAuth() {
	try {
		const r = await fetch('favicon.svg', {
		    credentials: 'same-origin', cache: 'no-store' });
		if (r.status === 401)
			setConn('unauthorized', 'Not authorised: open the ' +
			    'login link you were given again');
	} catch (err) {
		/* server down: the retry message says enough */
	}
}

if (location.hash.length > 1)
	userPicked = true;
connect();

/* Tests and curious readers may look at the state; nothing depends on it. */
window.tapline = {
	get lastId() { return lastId; },
	get connected() { return synced; },
	get attempt() { return attempt; },
};

}());
