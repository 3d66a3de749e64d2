// A browser that opens after the events sees the whole history: the same
// lines as one that watched live, finals only where a final came, the
// latest interim of an open utterance; and the downloads hold the finals.
import fs from 'node:fs';
import { run, open, Feed, Call, lines, until, check, eq, shot, sleep,
    waitConnected, pageClean, URL_BASE } from './lib.mjs';

const feed = new Feed();
const done = new Call(feed, 'CA' + 'b1'.repeat(16),
    { inbound_label: 'Reception', outbound_label: 'Ms Patel' });
const live = new Call(feed, 'CA' + 'b2'.repeat(16), { caller: 'Sam' });

const T1 = [
	['inbound', 'Good morning, this is the surgery.', 0.5, 2.1],
	['outbound', 'Hello, I need an appointment please.', 2.8, 4.9],
	['inbound', 'Of course. Is tomorrow at ten fine?', 5.5, 7.9],
	['outbound', 'Yes, that is perfect. Thank you.', 68.4, 70.2],
];

function feedAll() {
	done.start();
	const seq = { inbound: 0, outbound: 0 };
	for (const [track, text, a, b] of T1) {
		const words = text.toLowerCase().split(' ');
		done.say(track, seq[track], false, words[0], a, a + 0.3);
		done.say(track, seq[track], false, words.slice(0, 3).join(' '),
		    a, a + 0.8);
		done.say(track, seq[track]++, true, text, a, b);
	}
	done.stop();
	live.start();
	/* two lines that start together: the one that ends first goes
	 * first, whatever order they come in */
	live.say('outbound', 0, false, 'just a', 1.5, 1.8);
	live.say('inbound', 0, true, "Hi, it's me again.", 1.5, 1.6);
	live.say('outbound', 0, false, 'just a moment', 1.5, 2.2);
}

async function view(page, sid) {
	await page.click('#call-list li[data-call="' + sid + '"] button');
	await page.waitForSelector('button.call[aria-current="true"]');
	return (await lines(page)).map((l) => [l.side, l.speaker, l.interim,
	    l.text, l.time]);
}

async function download(page, fmt) {
	const [dl] = await Promise.all([
		page.waitForEvent('download'),
		page.click('.downloads button[data-format="' + fmt + '"]'),
	]);
	eq(dl.suggestedFilename(), done.sid + '.' + fmt, fmt + ' file name');
	return fs.readFileSync(await dl.path(), 'utf8');
}

run(async (browser) => {
	const early = (await open(browser)).page;
	await waitConnected(early);
	feedAll();
	await until('the early page has both calls', async () =>
	    (await early.$$('#call-list li')).length === 2);
	await until('the early page has the live call in full', async () =>
	    (await lines(early)).some((l) => l.text === 'just a moment'));
	await early.click('#call-list li[data-call="' + done.sid +
	    '"] button');
	await until('the early page has the ended call in full', async () =>
	    (await lines(early)).length === 4);
	await sleep(300);

	const late = (await open(browser)).page;
	await waitConnected(late);
	eq(await late.$$eval('#call-list li', (lis) => lis.map((li) => [
	    li.dataset.call, li.querySelector('.badge').textContent,
	    li.querySelector('.who').textContent])), [
		[live.sid, 'Live', 'Sam ↔ Callee'],
		[done.sid, 'Ended', 'Reception ↔ Ms Patel'],
	], 'the late page lists both calls, newest first, live and ended');
	check(await late.$eval('button.call[aria-current="true"]',
	    (b) => b.parentNode.dataset.call) === live.sid,
	    'the live call is shown first');
	const lateLive = await view(late, live.sid);
	eq(lateLive.map((l) => l.slice(0, 4)), [
		['inbound', 'Sam', false, "Hi, it's me again."],
		['outbound', 'Callee', true, 'just a moment'],
	], 'the live call: its final, and the latest interim only');
	eq(lateLive, await view(early, live.sid),
	    'the late page shows the live call as the early one does');

	/* the list works from the keyboard: arrows move, Enter picks */
	await late.focus('#call-list li:first-child button');
	await late.keyboard.press('ArrowDown');
	await late.keyboard.press('Enter');
	check(await late.$eval('button.call[aria-current="true"]',
	    (b) => b.parentNode.dataset.call) === done.sid,
	    'a call is chosen with the arrow keys and Enter');
	const lateDone = await view(late, done.sid);
	eq(lateDone.map((l) => l.slice(0, 4)), T1.map(([t, x]) =>
	    [t, t === 'inbound' ? 'Reception' : 'Ms Patel', false, x]),
	    'the ended call: every final, in order, by the right speaker');
	eq(lateDone.map((l) => l[4]), ['0:00', '0:02', '0:05', '1:08'],
	    'each utterance with its time into the call');
	eq(lateDone, await view(early, done.sid),
	    'the late page shows the ended call as the early one does');
	check(/Ended/.test(await late.textContent('#conv-meta')),
	    'the header says the call ended');
	await shot(late, 'late-join');

	eq(await download(late, 'txt'),
	    '[0:00] Reception: Good morning, this is the surgery.\n' +
	    '[0:02] Ms Patel: Hello, I need an appointment please.\n' +
	    '[0:05] Reception: Of course. Is tomorrow at ten fine?\n' +
	    '[1:08] Ms Patel: Yes, that is perfect. Thank you.\n',
	    'text download');
	eq(await download(late, 'srt'),
	    '1\n00:00:00,500 --> 00:00:02,100\n' +
	    'Reception: Good morning, this is the surgery.\n\n' +
	    '2\n00:00:02,800 --> 00:00:04,900\n' +
	    'Ms Patel: Hello, I need an appointment please.\n\n' +
	    '3\n00:00:05,500 --> 00:00:07,900\n' +
	    'Reception: Of course. Is tomorrow at ten fine?\n\n' +
	    '4\n00:01:08,400 --> 00:01:10,200\n' +
	    'Ms Patel: Yes, that is perfect. Thank you.\n\n',
	    'SRT download');
	const j = JSON.parse(await download(late, 'json'));
	eq([j.call_sid, j.params], [done.sid, done.params], 'JSON: the call');
	eq(j.utterances.map((u) => [u.track, u.speaker, u.seq, u.start, u.end,
	    u.text]), [
		['inbound', 'Reception', 0, 0.5, 2.1, T1[0][1]],
		['outbound', 'Ms Patel', 0, 2.8, 4.9, T1[1][1]],
		['inbound', 'Reception', 1, 5.5, 7.9, T1[2][1]],
		['outbound', 'Ms Patel', 1, 68.4, 70.2, T1[3][1]],
	], 'JSON download: the finals');

	/* a page that follows one call: ?call=CA... */
	const one = (await open(browser, { path: null })).page;
	const wsUrls = [];
	one.on('websocket', (w) => wsUrls.push(w.url()));
	await one.goto(new URL('?call=' + done.sid, URL_BASE).toString());
	await waitConnected(one);
	eq(new URL(wsUrls[0]).searchParams.get('call'), done.sid,
	    'it asks the server for that call only');
	eq(await one.$$eval('#call-list li', (lis) => lis.map((li) =>
	    li.dataset.call)), [done.sid], 'and lists only that call');
	eq((await lines(one)).map((l) => l.text), T1.map((t) => t[1]),
	    'with its whole history');
	pageClean(early);
	pageClean(late);
	pageClean(one);
	feed.close();
});
