// ts-broadcast with --journal is stopped and started again: the page says
// it is offline, reconnects by itself with ?since=<last id>, is resumed,
// and shows every line exactly once, in the same elements as before.
// With LOST=1 the new server has no journal: it cannot resume the page,
// which then drops what it had and shows the new server's history only.
import { run, open, Feed, Call, lines, until, check, eq, shot, waitFile,
    waitConnected, pageClean } from './lib.mjs';
import fs from 'node:fs';

const SID = 'CA' + 'd4'.repeat(16);
const LOST = process.env.LOST === '1';

run(async (browser) => {
	const { page } = await open(browser, { path: null });
	const urls = [];
	const hellos = [];
	page.on('websocket', (ws) => {
		urls.push(ws.url());
		ws.on('framereceived', (f) => {
			if (typeof f.payload === 'string' &&
			    f.payload.includes('"hello"'))
				hellos.push(JSON.parse(f.payload));
		});
	});
	await page.goto(process.env.TAPLINE_URL);
	await waitConnected(page);

	let feed = new Feed();
	let call = new Call(feed, SID, { caller: 'Ann', callee: 'Ben' });
	call.start();
	call.say('inbound', 0, true, 'Before the restart, one.', 0.5, 1.5);
	call.say('outbound', 0, false, 'before the', 2.0, 2.4);
	call.say('outbound', 0, true, 'Before the restart, two.', 2.0, 3.0);
	await until('the first lines', async () =>
	    (await lines(page)).filter((l) => !l.interim).length === 2);
	const first = await page.$('#lines > li');
	await first.evaluate((n) => { n.dataset.mark = 'kept'; });
	const idBefore = await page.evaluate(() => window.tapline.lastId);
	check(idBefore > 0, 'events carry ids (last seen ' + idBefore + ')');
	feed.close();

	/* the shell stops the server */
	fs.writeFileSync('a-shown', '');
	await page.waitForSelector('#conn[data-state="offline"]',
	    { timeout: 20000 });
	await shot(page, 'offline');
	check(true, 'the page says it is disconnected: ' +
	    await page.textContent('#conn'));

	await waitFile('restarted', 30000);
	await waitConnected(page, 30000);
	feed = new Feed();
	call = new Call(feed, SID, {});
	call.say('inbound', 1, false, 'after', 4.0, 4.3);
	call.say('inbound', 1, true, 'After the restart, three.', 4.0, 5.0);
	call.say('outbound', 1, true, 'After the restart, four.', 5.5, 6.5);
	call.stop();

	if (LOST) {
		await until('the later lines', async () =>
		    (await lines(page)).length === 2 &&
		    (await page.textContent('#call-list .badge')) === 'Ended');
		eq((await lines(page)).map((l) => [l.speaker, l.interim,
		    l.text, l.time]), [
			['Caller', false, 'After the restart, three.', '0:04'],
			['Callee', false, 'After the restart, four.', '0:05'],
		], 'only what the new server has, once, at its time');
		check(!(await first.evaluate((n) => n.isConnected)),
		    'the page dropped what the server could not resume');
		eq(hellos.map((h) => h.resumed), [false, false],
		    'the server said it could not resume');
		await shot(page, 'not-resumed');
		pageClean(page);
		feed.close();
		return;
	}
	await until('the later lines and the end', async () =>
	    (await lines(page)).length === 4 &&
	    (await page.textContent('#call-list .badge')) === 'Ended', 15000);
	eq((await lines(page)).map((l) => [l.speaker, l.interim, l.text]), [
		['Ann', false, 'Before the restart, one.'],
		['Ben', false, 'Before the restart, two.'],
		['Ann', false, 'After the restart, three.'],
		['Ben', false, 'After the restart, four.'],
	], 'every line once, in order');
	check(await first.evaluate((n) => n.isConnected &&
	    n.dataset.mark === 'kept'), 'the page was not rebuilt');
	check(urls.length >= 2, 'the page reconnected (' + urls.length +
	    ' connections)');
	const last = new URL(urls[urls.length - 1]);
	eq(last.searchParams.get('since'), String(idBefore),
	    'it resumed from the last id it saw');
	eq(hellos.map((h) => h.resumed), [false].concat(
	    Array(hellos.length - 1).fill(true)),
	    'the server resumed it (hello.resumed)');
	await shot(page, 'resumed');

	/* the journal replayed: a fresh page sees the same */
	const { page: fresh } = await open(browser);
	await waitConnected(fresh);
	eq((await lines(fresh)).map((l) => l.text), (await lines(page)).map(
	    (l) => l.text), 'a new page sees the same from the journal');
	pageClean(page);
	pageClean(fresh);
	feed.close();
});
