// Shared pieces of the browser tests: start headless Chromium, open the
// page of a running ts-broadcast, write events to its input, wait with a
// bound, take screenshots.  tests/t5100-browser.sh starts the programs and
// runs one script per case; a script exits 0 when every check held.
//
// Environment: TAPLINE_URL (http://127.0.0.1:PORT/), SHOTS (folder for
// screenshots), FEED (a FIFO read by ts-broadcast, when the script writes
// events itself), CHROMIUM (default /usr/bin/chromium).

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const URL_BASE = process.env.TAPLINE_URL || 'http://127.0.0.1:8090/';
const SHOTS = process.env.SHOTS || '.';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 780 };

// No script may hang: past this the process ends, and playwright's exit
// handler takes the browser down with it.
const WATCHDOG_MS = Number(process.env.WATCHDOG_MS || 90000);
setTimeout(() => {
	console.error('# watchdog: gave up after ' + WATCHDOG_MS + ' ms');
	process.exit(1);
}, WATCHDOG_MS).unref();

export function log(...a) {
	console.log('#', ...a);
}

export class CheckError extends Error {}

export function check(cond, what) {
	if (!cond)
		throw new CheckError('check failed: ' + what);
	log('ok:', what);
}

export function eq(got, want, what) {
	const g = JSON.stringify(got), w = JSON.stringify(want);
	if (g !== w)
		throw new CheckError('check failed: ' + what + '\n#   got:  ' +
		    g + '\n#   want: ' + w);
	log('ok:', what);
}

export async function launch() {
	// No traffic but to the server under test: nothing in the background,
	// no updates, no sync.
	const args = ['--disable-dev-shm-usage', '--disable-gpu',
	    '--disable-quic', '--no-first-run', '--disable-sync',
	    '--disable-background-networking', '--disable-component-update',
	    '--disable-default-apps', '--disable-domain-reliability',
	    '--no-pings', '--dns-prefetch-disable'];
	if (process.getuid && process.getuid() === 0)
		args.push('--no-sandbox');
	return chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args,
		timeout: 30000,
	});
}

// A new context (own cookies) and page; console errors of the page and
// failed requests to other hosts are reported, since the page must make
// none.
export async function open(browser, opts = {}) {
	const ctx = await browser.newContext({
		viewport: opts.viewport || DESKTOP,
		acceptDownloads: true,
		colorScheme: opts.colorScheme || 'light',
		locale: 'en-GB',
		timezoneId: 'UTC',
	});
	const page = await ctx.newPage();
	page.setDefaultTimeout(15000);
	page.errors = [];
	page.foreign = [];
	page.on('pageerror', (e) => page.errors.push(e.message));
	page.on('console', (m) => {
		if (m.type() === 'error')
			log('page console:', m.text());
	});
	const origin = new URL(URL_BASE).origin;
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith(origin) && !u.startsWith('blob:') &&
		    !u.startsWith('data:') &&
		    !u.startsWith(origin.replace(/^http/, 'ws')))
			page.foreign.push(u);
	});
	if (opts.path !== null) {
		const resp = await page.goto(new URL(opts.path || '',
		    URL_BASE).toString());
		page.firstStatus = resp ? resp.status() : 0;
	}
	return { ctx, page };
}

// The page's own health: no uncaught errors, no request elsewhere.
export function pageClean(page) {
	eq(page.errors, [], 'no uncaught errors in the page');
	eq(page.foreign, [], 'no requests to other origins');
}

export async function waitConnected(page, ms = 15000) {
	await page.waitForSelector('#conn[data-state="live"]',
	    { timeout: ms });
}

export async function shot(page, name) {
	const file = path.join(SHOTS, name + '.png');
	await page.screenshot({ path: file });
	log('screenshot', file);
	return file;
}

// The lines of the selected call as the reader sees them.
export async function lines(page) {
	return page.$$eval('#lines > li', (lis) => lis.map((li) => ({
		key: li.dataset.key || '',
		side: li.classList.contains('outbound') ? 'outbound' :
		    li.classList.contains('inbound') ? 'inbound' : 'note',
		interim: li.classList.contains('interim'),
		speaker: (li.querySelector('.speaker') || {}).textContent ||
		    '',
		time: (li.querySelector('.at') || {}).textContent || '',
		text: ((li.querySelector('.text') || li).textContent || '')
		    .replace(' (still being heard)', '').trim(),
		x: li.getBoundingClientRect().left,
	})));
}

// Poll fn() until it returns a truthy value; bounded by ms.
export async function until(what, fn, ms = 15000, every = 100) {
	const end = Date.now() + ms;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			throw new CheckError('timed out (' + ms +
			    ' ms) waiting: ' + what);
		await new Promise((r) => setTimeout(r, every));
	}
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Wait (bounded) for a file to appear: how the shell says "done that".
export async function waitFile(file, ms = 30000) {
	await until('file ' + file, () => fs.existsSync(file), ms);
}

// Events NDJSON written to ts-broadcast's input FIFO.
export class Feed {
	constructor(file = process.env.FEED) {
		if (!file)
			throw new Error('FEED is not set');
		this.fd = fs.openSync(file, 'a');
	}

	send(ev) {
		const o = { ts: new Date().toISOString(), ...ev };
		fs.writeSync(this.fd, JSON.stringify(o) + '\n');
	}

	close() {
		fs.closeSync(this.fd);
	}
}

// A call whose events a script makes up.
export class Call {
	constructor(feed, sid, params = {}) {
		this.feed = feed;
		this.sid = sid;
		this.stream = 'MZ' + sid.slice(2);
		this.params = params;
	}

	start() {
		this.feed.send({ type: 'call.start', call_sid: this.sid,
		    stream_sid: this.stream,
		    account_sid: 'AC' + '0'.repeat(32),
		    tracks: ['inbound', 'outbound'], params: this.params });
	}

	say(track, seq, final, text, start, end) {
		const ev = { type: 'transcript', call_sid: this.sid,
		    stream_sid: this.stream, track, seq, final, text, start,
		    end };
		if (final)
			ev.confidence = 0.9;
		else
			ev.stability = 0.5;
		this.feed.send(ev);
	}

	stop() {
		this.feed.send({ type: 'call.stop', call_sid: this.sid,
		    stream_sid: this.stream, reason: 'stop' });
	}
}

// Run main(browser) with a browser, report, and always close it.
export async function run(main) {
	let browser;
	let rc = 0;
	try {
		browser = await launch();
		await main(browser);
		log('all checks passed');
	} catch (e) {
		rc = 1;
		console.error('# ' + (e instanceof CheckError ? e.message :
		    (e && e.stack) || e));
	} finally {
		if (browser)
			await browser.close().catch(() => {});
	}
	process.exit(rc);
}
