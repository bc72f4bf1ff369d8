// Sign-in: username and password (and the second factor's code when the server asks for it),
// single sign-on when the server offers it, and a personal API token as the secondary way. A new
// sign-in ends the person's other sessions unless he ticks to keep them.
import { api, h, field, fill, ApiError } from "../lib.js";

/** render draws the sign-in page into view. methods are the server's sign-in methods (GET
 * /api/v1/session's sign_in); message says why the page shows (signed out), error what failed
 * (a single sign-on); onSignedIn receives the new session. */
export function render(view, { methods = {}, message = "", error = "", onSignedIn }) {
  const note = h("p", { id: "signin-note", class: "hint", "aria-live": "polite" }, message);
  const fault = h("p", { id: "signin-error", class: "error", role: "alert" }, error ? "✗ " + error : "");
  const keep = h("input", { type: "checkbox", id: "keep-sessions", name: "keep_other_sessions" });

  // Username and password, then the code when the account has a second factor.
  const username = h("input", { type: "text", name: "username", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true, maxlength: "128" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, maxlength: "256" });
  const code = h("input", { type: "text", name: "totp", autocomplete: "one-time-code", inputmode: "numeric", maxlength: "8", spellcheck: "false" });
  const codeField = field("totp", "Code from your authenticator app", code, "Your account has a second factor: the 6-digit code the app shows for otpatch now.");
  codeField.hidden = true;
  const submit = h("button", { type: "submit", id: "signin-submit" }, "Sign in");
  const form = h("form", { id: "signin", "aria-labelledby": "signin-title" },
    field("username", "Username", username), field("password", "Password", password), codeField,
    h("div", { class: "check" }, keep, h("label", { for: "keep-sessions" }, "Keep my other sessions signed in")),
    h("p", { class: "hint", id: "keep-sessions-hint" }, "Unless you tick this, signing in here signs you out in every other browser (whichever way you sign in)."),
    submit);
  keep.setAttribute("aria-describedby", "keep-sessions-hint");

  const say = (text, err) => { fill(fault, err ? "✗ " + err : ""); note.textContent = text || ""; };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { username: username.value.trim(), password: password.value, keep_other_sessions: keep.checked };
    if (!codeField.hidden && code.value.trim()) body.totp = code.value.trim();
    submit.disabled = true;
    say("");
    try {
      const doc = await api("/api/v1/session", { method: "POST", body });
      await onSignedIn(doc);
    } catch (err) {
      if (err instanceof ApiError && err.problem.rule === "totp_required") {
        codeField.hidden = false;
        say("One more step: the code from your authenticator app.");
        code.focus();
      } else {
        say("", err.message);
        if (!codeField.hidden) { code.value = ""; code.focus(); } else { password.value = ""; password.focus(); }
      }
    } finally {
      submit.disabled = false;
    }
  });

  // Single sign-on: the server sends the browser to the provider and back.
  let sso = null;
  if (methods.oidc && methods.oidc_start) {
    const link = h("a", { class: "button", id: "oidc-signin" }, "Sign in with " + (methods.oidc_name || "single sign-on"));
    const target = () => { link.href = methods.oidc_start + (keep.checked ? "?keep_other_sessions=true" : ""); };
    keep.addEventListener("change", target);
    target();
    sso = h("div", { id: "oidc" }, h("p", { class: "or" }, "or"), link);
  }

  // A personal API token, the secondary way: the session acts in the token's role.
  const token = h("input", { type: "password", name: "token", autocomplete: "off", required: true, maxlength: "512", spellcheck: "false" });
  const tokenForm = h("form", { id: "token-form" },
    field("token", "API token", token, "A personal API token acts in its own role. The browser keeps a session cookie, not the token."),
    h("button", { type: "submit", id: "token-submit" }, "Sign in with the token"));
  tokenForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say("");
    try {
      const doc = await api("/api/v1/session", { method: "POST", body: { token: token.value.trim(), keep_other_sessions: keep.checked } });
      token.value = "";
      await onSignedIn(doc);
    } catch (err) {
      say("", err.message);
      token.focus();
    }
  });
  const tokenBox = h("details", { id: "token-signin" }, h("summary", {}, "Sign in with a token"), tokenForm);
  tokenBox.addEventListener("toggle", () => { if (tokenBox.open) token.focus(); });

  view.append(h("section", { class: "card narrow signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"), note, fault, form, sso, tokenBox));
  username.focus();
}
