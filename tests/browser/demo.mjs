// make demo's page: after tapline-demo has played its call, the page
// shows the call with both speakers, Customer and Agent, and every final
// of each side that the demo's events hold.  EVENTS: the demo's
// events.ndjson.
import fs from 'node:fs';
import { run, open, lines, until, check, eq, shot, waitConnected,
    pageClean } from './lib.mjs';

run(async (browser) => {
	const evs = fs.readFileSync(process.env.EVENTS, 'utf8').split('\n')
	    .filter(Boolean).map((l) => JSON.parse(l));
	const finals = (t) => evs.filter((e) => e.type === 'transcript' &&
	    e.final && e.track === t && e.text !== '').map((e) => e.text);
	const want = { inbound: finals('inbound'), outbound: finals('outbound') };
	check(want.inbound.length >= 3 && want.outbound.length >= 3,
	    'the demo transcribed both sides: ' + JSON.stringify(want));

	const { page } = await open(browser);
	await waitConnected(page);
	await page.waitForSelector('#call-list .badge.ended');
	eq(await page.textContent('#call-list .who'), 'Customer ↔ Agent',
	    'the call is listed with who is on it');
	await until('every final on the page', async () =>
	    (await lines(page)).filter((l) => !l.interim).length ===
	    want.inbound.length + want.outbound.length);
	const got = await lines(page);
	for (const t of ['inbound', 'outbound']) {
		const mine = got.filter((l) => l.side === t);
		eq(mine.map((l) => l.text), want[t], t + ': every final');
		check(mine.every((l) => l.speaker ===
		    (t === 'inbound' ? 'Customer' : 'Agent')), t + ' labelled');
	}
	await shot(page, 'demo');
	pageClean(page);
});
