// TAPLINE_BROADCAST_TOKEN set: no page and no WebSocket without it; the
// login link sets the cookie and the page works from then on.
import { run, open, check, eq, shot, waitConnected, pageClean, URL_BASE }
    from './lib.mjs';

const TOKEN = process.env.TOKEN;

// Try a WebSocket from inside a page: 'open' or 'refused'.
function tryWs(page) {
	return page.evaluate(() => new Promise((resolve) => {
		const u = new URL('ws', location.href);
		u.protocol = 'ws:';
		const ws = new WebSocket(u);
		const t = setTimeout(() => resolve('no answer'), 8000);
		ws.onopen = () => {
			clearTimeout(t);
			ws.close();
			resolve('open');
		};
		ws.onclose = () => { clearTimeout(t); resolve('refused'); };
	}));
}

run(async (browser) => {
	const anon = (await open(browser)).page;
	eq(anon.firstStatus, 401, 'no token: the page is refused');
	check(await anon.$('#conn') === null, 'and not served');
	eq(await tryWs(anon), 'refused', 'no token: the WebSocket is refused');

	const wrongLink = (await open(browser, { path: '?token=wrong' })).page;
	eq(wrongLink.firstStatus, 401, 'a login link with a wrong token: 401');
	await shot(wrongLink, 'token-refused');

	const { ctx: wc, page: wrongCookie } = await open(browser,
	    { path: null });
	await wc.addCookies([{ name: 'tapline_token', value: 'wrong',
	    url: URL_BASE }]);
	const resp = await wrongCookie.goto(URL_BASE);
	eq(resp.status(), 401, 'a wrong token in the cookie: 401');
	eq(await tryWs(wrongCookie), 'refused',
	    'a wrong token in the cookie: the WebSocket is refused');

	const { ctx, page } = await open(browser, { path: '?token=' +
	    encodeURIComponent(TOKEN) });
	eq(page.url(), URL_BASE, 'the login link leads to the page');
	eq(page.firstStatus, 200, 'which is served with the cookie set');
	const c = (await ctx.cookies()).find((k) =>
	    k.name === 'tapline_token');
	check(c && c.value === TOKEN && c.httpOnly,
	    'the login link sets an HttpOnly cookie');
	await waitConnected(page);
	eq(await tryWs(page), 'open', 'with the cookie the WebSocket opens');
	await page.reload();
	await waitConnected(page);
	check(true, 'the cookie keeps working without the token in the URL');
	pageClean(page);
});
