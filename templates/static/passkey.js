// Latchkey passkey ceremonies, for the hosted pages only: sign-in on /login
// (the "Sign in with a passkey" button, the browser's passkey autofill, and
// the second-factor step) and registration on /account/passkeys.
//
// The server keeps each ceremony's state in its flow; this script only
// carries options in and credentials out, binary fields as base64url.
// Without WebAuthn the passkey controls stay hidden.
(function () {
  'use strict';

  var supported = typeof window.PublicKeyCredential === 'function' &&
    !!navigator.credentials && typeof navigator.credentials.get === 'function' &&
    typeof navigator.credentials.create === 'function';

  // --- base64url <-> ArrayBuffer ---------------------------------------

  function fromB64url(s) {
    s = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withIDs(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o, { challenge: fromB64url(o.challenge) });
    if (o.allowCredentials) pk.allowCredentials = withIDs(o.allowCredentials);
    return pk;
  }

  function creationOptions(o) {
    var pk = Object.assign({}, o, {
      challenge: fromB64url(o.challenge),
      user: Object.assign({}, o.user, { id: fromB64url(o.user.id) })
    });
    if (o.excludeCredentials) pk.excludeCredentials = withIDs(o.excludeCredentials);
    return pk;
  }

  // credentialJSON is the PublicKeyCredential as the server parses it, with
  // the ceremony's own response fields.
  function credentialJSON(c, response) {
    return JSON.stringify({
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: response
    });
  }

  function assertionJSON(c) {
    var r = c.response;
    return credentialJSON(c, {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : undefined
    });
  }

  function attestationJSON(c) {
    var r = c.response;
    return credentialJSON(c, {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : []
    });
  }

  // --- talking to the server and to the user --------------------------

  function ServerError(message) {
    this.name = 'ServerError';
    this.message = message;
  }

  function post(url, fields) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' },
      body: new URLSearchParams(fields)
    }).then(function (res) {
      var type = res.headers.get('Content-Type') || '';
      if (type.indexOf('application/json') !== 0) {
        throw new ServerError('Your session has ended. Reload the page to continue.');
      }
      return res.json().then(function (data) {
        if (data.reauthenticate) {
          window.location.assign(data.reauthenticate);
          throw new ServerError(data.error || 'Please confirm it is you first.');
        }
        if (!res.ok) throw new ServerError(data.error || 'The server refused the request.');
        return data;
      });
    }, function () {
      throw new ServerError('The server could not be reached. Check your connection and try again.');
    });
  }

  // describe turns a ceremony failure into a sentence. Browsers report a
  // cancelled prompt and an expired one alike (NotAllowedError), so the
  // elapsed time tells them apart.
  function describe(err, started, timeout) {
    if (!err) return 'Something went wrong. Please try again.';
    switch (err.name) {
      case 'ServerError':
        return err.message;
      case 'NotAllowedError':
        if (timeout > 0 && Date.now() - started >= timeout - 1000) {
          return 'The passkey request timed out. Please try again.';
        }
        return 'The passkey request was cancelled or not allowed. Try again, or choose another way.';
      case 'AbortError':
        return 'The passkey request was cancelled.';
      case 'InvalidStateError':
        return 'This device or security key already holds a passkey for your account.';
      case 'SecurityError':
        return 'Passkeys are not allowed on this address: the site is set up for another domain.';
      case 'NotSupportedError':
        return 'This device does not support the kind of passkey this site needs.';
    }
    return 'The passkey request failed: ' + (err.message || err.name);
  }

  // show puts a message in el; an error is announced at once (role=alert),
  // progress politely (role=status). Empty hides it.
  function show(el, message, isError) {
    if (!el) return;
    el.textContent = message || '';
    el.hidden = !message;
    if (!message) {
      el.removeAttribute('role');
      return;
    }
    el.setAttribute('role', isError ? 'alert' : 'status');
    el.className = 'alert ' + (isError ? 'error' : 'notice');
  }

  // --- sign-in ---------------------------------------------------------

  function setupLogin(form, button) {
    var input = form.querySelector('input[name=credential]');
    var errorBox = form.querySelector('[data-passkey-error]');
    var csrf = form.querySelector('input[name=csrf_token]');
    var flow = new URL(form.getAttribute('action'), window.location.href).searchParams.get('flow');
    if (!input || !csrf || !flow) return;
    var optionsURL = '/login/passkey/options?flow=' + encodeURIComponent(flow);
    var busy = false;
    var conditional = null; // the pending autofill request, if any

    function fetchOptions() {
      return post(optionsURL, { csrf_token: csrf.value }).then(function (data) { return data.publicKey; });
    }

    function submitWith(cred) {
      input.value = assertionJSON(cred);
      button.disabled = false; // a disabled submitter is left out of the form data
      if (form.requestSubmit) {
        form.requestSubmit(button);
        return;
      }
      var method = document.createElement('input');
      method.type = 'hidden';
      method.name = 'method';
      method.value = 'passkey';
      form.appendChild(method);
      form.submit();
    }

    // Autofill: the identifier field carries autocomplete="username
    // webauthn", so the browser offers passkeys in its suggestions.
    function startConditional() {
      if (!form.querySelector('input[autocomplete~=webauthn]') ||
          typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
        return Promise.resolve();
      }
      return PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available || busy) return;
        var controller = new AbortController();
        var c = { controller: controller, options: fetchOptions() };
        c.settled = c.options.then(function (options) {
          return navigator.credentials.get({
            mediation: 'conditional',
            publicKey: requestOptions(options),
            signal: controller.signal
          });
        }).then(function (cred) {
          if (!controller.signal.aborted && conditional === c) {
            conditional = null;
            busy = true;
            submitWith(cred);
          }
        }, function () { /* aborted or declined: the button still works */ });
        conditional = c;
      }, function () {});
    }
    var conditionalStarted = startConditional();

    function run() {
      busy = true;
      button.disabled = true;
      show(errorBox, '');
      var started = Date.now();
      var timeout = 0;
      conditionalStarted.then(function () {
        var c = conditional;
        conditional = null;
        if (!c) return fetchOptions();
        // Reuse the autofill request's options: the flow holds that
        // challenge, and fetching anew would race with it.
        c.controller.abort();
        return c.options.catch(function () { return null; }).then(function (options) {
          return c.settled.then(function () { return options || fetchOptions(); });
        });
      }).then(function (options) {
        timeout = options.timeout || 0;
        started = Date.now();
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      }).then(submitWith, function (err) {
        show(errorBox, describe(err, started, timeout), true);
        button.disabled = false;
        busy = false;
      });
    }

    form.addEventListener('submit', function (ev) {
      if (ev.submitter !== button || input.value) return;
      ev.preventDefault();
      if (!busy) run();
    });
  }

  // --- registration ----------------------------------------------------

  function setupRegister(button) {
    var status = document.getElementById('passkey-status');
    var nameInput = document.getElementById('passkey-name');
    var csrf = button.getAttribute('data-csrf');

    button.addEventListener('click', function () {
      button.disabled = true;
      show(status, 'Follow your browser\u2019s prompt to create the passkey\u2026', false);
      var started = Date.now();
      var timeout = 0;
      post(button.getAttribute('data-begin') || '/account/passkeys/register/begin', { csrf_token: csrf }).then(function (data) {
        timeout = data.publicKey.timeout || 0;
        started = Date.now();
        return navigator.credentials.create({ publicKey: creationOptions(data.publicKey) }).then(function (cred) {
          // In a sign-in the ceremony lives in the sign-in's flow.
          var finish = button.getAttribute('data-finish') ||
            '/account/passkeys/register/finish?flow=' + encodeURIComponent(data.flow);
          return post(finish, {
            csrf_token: csrf,
            name: nameInput ? nameInput.value : '',
            credential: attestationJSON(cred)
          });
        });
      }).then(function () {
        window.location.assign(button.getAttribute('data-continue') || '/account/passkeys?done=added');
      }, function (err) {
        show(status, describe(err, started, timeout), true);
        button.disabled = false;
      });
    });
  }

  // --- start -----------------------------------------------------------

  if (!supported) return;
  // Tell the server this browser can make passkeys, so it may suggest one.
  document.querySelectorAll('input[name=webauthn]').forEach(function (el) { el.value = '1'; });
  document.querySelectorAll('[data-passkey-only], [data-passkey-button]').forEach(function (el) {
    el.hidden = false;
  });
  document.querySelectorAll('button[name=method][value=passkey]').forEach(function (button) {
    if (button.form) setupLogin(button.form, button);
  });
  var register = document.getElementById('passkey-register');
  if (register) {
    register.hidden = false;
    var note = document.getElementById('passkey-unsupported');
    if (note) note.hidden = true;
  }
  if (register) setupRegister(register);
})();
