// A call played by tw-simcall through tw-mediasrv | mulaw-split --exec
// gstt-stream | ts-broadcast: the page shows it live, then every final of
// both tracks, each by its speaker (labels from the call's parameters).
import fs from 'node:fs';
import { run, open, lines, until, check, eq, shot, PHONE, DESKTOP,
    waitConnected, pageClean } from './lib.mjs';

function finalsOf(file) {
	const evs = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
	    .map((l) => JSON.parse(l));
	const start = evs.find((e) => e.type === 'call.start');
	const f = (t) => evs.filter((e) => e.type === 'transcript' &&
	    e.final && e.track === t && e.text !== '').map((e) => e.text);
	return { sid: start.call_sid, inbound: f('inbound'),
	    outbound: f('outbound') };
}

run(async (browser) => {
	const { page } = await open(browser);
	await waitConnected(page);
	check(await page.isVisible('#no-calls'), 'no calls yet');
	fs.writeFileSync('shown-waiting', '');	/* the shell starts the call */

	await page.waitForSelector('#call-list .badge.live',
	    { timeout: 30000 });
	eq(await page.textContent('#call-list .who'), 'Alice ↔ Bob',
	    'the call is listed live, with who is on it');
	await page.waitForSelector('#call-list .badge.ended',
	    { timeout: 120000 });
	const want = finalsOf(process.env.EVENTS);
	check(want.inbound.length > 0 && want.outbound.length > 0,
	    'both tracks were transcribed: ' + JSON.stringify(want));
	await until('every final on the page', async () =>
	    (await lines(page)).filter((l) => !l.interim).length ===
	    want.inbound.length + want.outbound.length);
	const got = await lines(page);
	for (const t of ['inbound', 'outbound']) {
		const mine = got.filter((l) => l.side === t);
		eq(mine.map((l) => l.text), want[t],
		    t + ': every final, in order');
		check(mine.every((l) => l.speaker ===
		    (t === 'inbound' ? 'Alice' : 'Bob')), t + ' labelled');
	}
	const xin = got.find((l) => l.side === 'inbound').x;
	const xout = got.find((l) => l.side === 'outbound').x;
	check(xin < xout, 'the two speakers side by side, caller on the left');
	check(await page.isEnabled('.downloads button[data-format="txt"]'),
	    'downloads are offered');
	await shot(page, 'desktop');

	const phone = (await open(browser, { viewport: PHONE })).page;
	await waitConnected(phone);
	await until('the phone page has the call', async () =>
	    (await lines(phone)).length === got.length);
	check(await phone.evaluate(() =>
	    document.documentElement.scrollWidth <= innerWidth),
	    'no sideways scrolling on a phone');
	await shot(phone, 'phone');
	const dark = (await open(browser, { viewport: DESKTOP,
	    colorScheme: 'dark' })).page;
	await waitConnected(dark);
	await until('the dark page has the call', async () =>
	    (await lines(dark)).length === got.length);
	await shot(dark, 'desktop-dark');
	pageClean(page);
	pageClean(phone);
});
