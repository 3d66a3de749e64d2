// The conversation follows new lines while the reader is at the end; once
// they scroll up it stays put and offers "jump to live", which brings them
// back (by keyboard here) and resumes following.
import { run, open, Feed, Call, lines, until, check, shot, PHONE,
    waitConnected, pageClean } from './lib.mjs';

const feed = new Feed();
const call = new Call(feed, 'CA' + 'c3'.repeat(16), {});

function say(i) {
	const track = i % 2 ? 'outbound' : 'inbound';
	call.say(track, Math.floor(i / 2), true,
	    'Line number ' + i + ' of a long conversation about nothing much.',
	    i * 2, i * 2 + 1.5);
}

const atEnd = (page) => page.$eval('#scroller', (s) =>
    s.scrollHeight - s.scrollTop - s.clientHeight <= 48);

run(async (browser) => {
	const { page } = await open(browser, { viewport: PHONE });
	await waitConnected(page);
	call.start();
	for (let i = 0; i < 30; i++)
		say(i);
	await until('30 lines', async () => (await lines(page)).length === 30);
	check(await page.$eval('#scroller', (s) => s.scrollHeight >
	    2 * s.clientHeight), 'the conversation is taller than its view');
	await until('followed to the end', () => atEnd(page), 3000);
	check(await page.isHidden('#jump'), 'no jump control while following');
	/* default labels without parameters */
	const ls = await lines(page);
	check(ls[0].speaker === 'Caller' && ls[1].speaker === 'Callee',
	    'default labels Caller and Callee');

	await page.$eval('#scroller', (s) => { s.scrollTop = 0; });
	await page.waitForTimeout(200);
	say(30);
	say(31);
	await until('32 lines', async () => (await lines(page)).length === 32);
	await page.waitForSelector('#jump', { state: 'visible' });
	check(await page.$eval('#scroller', (s) => s.scrollTop) === 0,
	    'scrolled up: the view stays where the reader put it');
	await shot(page, 'paused');

	await page.focus('#jump');
	await page.keyboard.press('Enter');
	await until('back at the end', () => atEnd(page), 3000);
	await page.waitForSelector('#jump', { state: 'hidden' });
	say(32);
	await until('33 lines', async () => (await lines(page)).length === 33);
	await until('following again', () => atEnd(page), 3000);
	check(true, 'jump to live resumes following');
	pageClean(page);
	feed.close();
});
