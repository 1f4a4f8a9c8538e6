/**
 * The admin page's HTML: an empty frame (navigation bar, login form, a message line and the
 * view the script fills). Everything it shows comes from app.js; there is no inline script,
 * no inline style and no event handler attribute, so the CSP `script-src 'self'; style-src
 * 'self'` holds. All URLs are relative, so the page works at `/` and at `/admin/`.
 *
 * @module
 */

/** index.html, served at the base path. */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>postie admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header id="top" hidden>
  <span class="brand">postie</span>
  <nav id="nav" data-testid="nav"></nav>
  <span id="who" data-testid="who"></span>
  <button id="logout" type="button" data-testid="logout">Log out</button>
</header>
<main>
  <section id="login-view" hidden>
    <h1>postie admin</h1>
    <form id="login-form" data-testid="login-form">
      <label>Address <input id="login-address" name="address" type="text" autocomplete="username" required></label>
      <label>Password <input id="login-password" name="password" type="password" autocomplete="current-password" required></label>
      <button id="login-submit" type="submit">Log in</button>
      <p id="login-error" class="error" role="alert" data-testid="login-error"></p>
    </form>
  </section>
  <div id="message" role="status" data-testid="message"></div>
  <section id="view" data-testid="view"></section>
  <noscript>This page needs JavaScript.</noscript>
</main>
</body>
</html>
`;
