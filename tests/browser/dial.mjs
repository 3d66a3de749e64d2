// With --dial-cmd the page offers a dial form: the number goes to the
// dial command through POST /api/calls and its answer (or error) is shown.
import { run, open, check, eq, shot, waitConnected, pageClean, Feed, Call }
    from './lib.mjs';

const DIALED = 'CA' + '0'.repeat(31) + '7';	/* what dial-cmd answers */

run(async (browser) => {
	const { page } = await open(browser);
	const posts = [];
	page.on('request', (r) => {
		if (r.method() === 'POST')
			posts.push([new URL(r.url()).pathname, r.postData()]);
	});
	await waitConnected(page);
	await page.waitForSelector('#dial', { state: 'visible' });
	/* someone is watching another call, picked by hand */
	const feed = new Feed();
	const other = new Call(feed, 'CA' + 'e5'.repeat(16), {});
	other.start();
	await page.click('#call-list li[data-call="' + other.sid +
	    '"] button');

	/* keyboard only: type, Enter */
	await page.focus('#dial-to');
	await page.keyboard.type('+1 555 123 4567');
	await page.keyboard.press('Enter');
	const good = await page.waitForSelector('#dial-out.good');
	const said = await good.textContent();
	check(/Call placed/.test(said) && said.includes(DIALED) &&
	    said.includes('queued') && said.includes('+15551234567'),
	    'the answer is shown: ' +
	    said.replace(/\s+/g, ' '));
	await shot(page, 'dial');
	/* the call placed is shown as soon as its stream starts */
	new Call(feed, DIALED, { callee: '+15551234567' }).start();
	await page.waitForSelector('#call-list li[data-call="' + DIALED +
	    '"] button[aria-current="true"]');
	check(true, 'the page follows the call it placed');
	feed.close();

	await page.fill('#dial-to', '+15550000000');
	await page.click('#dial-go');
	const bad = await page.waitForSelector('#dial-out.bad');
	const why = await bad.textContent();
	check(why.includes('tw-dial: the line is busy') && why.includes('502'),
	    'the error of the dial command is shown: ' + why);

	await page.fill('#dial-to', '12345');
	await page.click('#dial-go');
	await page.waitForFunction(() => /international format/.test(
	    document.querySelector('#dial-out').textContent));
	check(await page.getAttribute('#dial-to', 'aria-invalid') === 'true',
	    'a malformed number is refused in the page');
	eq(posts, [
		['/api/calls', '{"to":"+15551234567"}'],
		['/api/calls', '{"to":"+15550000000"}'],
	], 'two requests, the malformed number never sent');
	await shot(page, 'dial-error');

	/* the server checks too */
	const r = await page.evaluate(async () => {
		const x = await fetch('api/calls', { method: 'POST',
		    body: '{"to":"555"}' });
		return [x.status, await x.json()];
	});
	check(r[0] === 400 && typeof r[1].error === 'string',
	    'the server refuses a malformed number: ' + JSON.stringify(r));
	pageClean(page);
});
