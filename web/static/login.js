"use strict";
// Sign in: check the token against the API, keep it in sessionStorage.
S.run(() => {
  const form = S.$("#login-form"), msg = S.$("#login-msg"), input = S.$("#token");
  input.focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) { msg.textContent = "Paste a token first."; return; }
    sessionStorage.setItem(S.TOKEN, t);
    sessionStorage.removeItem(S.WHO);
    msg.textContent = "Checking…";
    try {
      const who = await S.whoami(true);
      msg.textContent = "Signed in as " + (who.tenant ? "tenant " + who.tenant : who.role) + ".";
      const next = new URLSearchParams(location.search).get("next");
      location.assign(next && next.startsWith("/ui/") && !next.startsWith("/ui/login") ? next : "/ui/");
    } catch (e) {
      sessionStorage.removeItem(S.TOKEN);
      msg.textContent = e.status === 401 ? "The server does not know this token." : "Sign-in failed: " + e.message;
    }
  });
  document.body.dataset.ready = "1";
});
