// An interim line is shown in its own style and replaced in place, in the
// same element, by later interims and by the final; nothing is doubled.
import { run, open, Feed, Call, lines, until, check, eq, shot,
    waitConnected, pageClean } from './lib.mjs';

const feed = new Feed();
const call = new Call(feed, 'CA' + 'a1'.repeat(16),
    { caller: 'Alice', callee: 'Bob' });

run(async (browser) => {
	const { page } = await open(browser);
	await waitConnected(page);
	call.start();
	await page.waitForSelector('#call-list .badge.live');

	call.say('inbound', 0, false, 'i would', 0.4, 0.9);
	const li = await page.waitForSelector('#lines > li.utt.interim');
	await li.evaluate((n) => { n.dataset.mark = 'same-element'; });
	check(await li.evaluate((n) => getComputedStyle(
	    n.querySelector('.text')).fontStyle === 'italic'),
	    'interim text is in its own style');

	call.say('inbound', 0, false, 'i would like a', 0.4, 1.4);
	await until('second interim shown', async () =>
	    (await lines(page)).some((l) => l.text === 'i would like a'));
	call.say('outbound', 0, false, 'of cour', 1.6, 2.0);
	await until('outbound interim', async () =>
	    (await lines(page)).length === 2);
	await shot(page, 'interim');

	call.say('inbound', 0, true, 'I would like a table.', 0.4, 1.5);
	await until('final replaces the interim', async () =>
	    (await lines(page)).some((l) =>
	    l.text === 'I would like a table.'));
	check(await li.evaluate((n) => n.isConnected &&
	    n.dataset.mark === 'same-element' &&
	    !n.classList.contains('interim')),
	    'the final took the place of the interim (same element)');
	check(await li.evaluate((n) => getComputedStyle(
	    n.querySelector('.text')).fontStyle === 'normal'),
	    'final text is in the normal style');

	/* a late interim of a seq that is final never takes it back */
	call.say('inbound', 0, false, 'i would like', 0.4, 1.2);
	call.say('outbound', 0, true, 'Of course.', 1.6, 2.2);
	await until('outbound final', async () =>
	    (await lines(page)).some((l) => l.text === 'Of course.'));
	const got = await lines(page);
	eq(got.map((l) => [l.side, l.speaker, l.interim, l.text]), [
		['inbound', 'Alice', false, 'I would like a table.'],
		['outbound', 'Bob', false, 'Of course.'],
	], 'two finals, one per speaker, no interim left');
	check(got[0].x < got[1].x, 'the caller is left of the callee');
	check((await page.textContent('#announce')).includes(
	    'Alice: I would like a table.'),
	    'the final is announced (aria-live)');
	check(await page.isHidden('#dial'), 'no dial form without --dial-cmd');
	await shot(page, 'final');
	pageClean(page);
	feed.close();
});
