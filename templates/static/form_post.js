// response_mode=form_post: send the authorization response on at once. A
// file rather than an inline handler, so the page's CSP (script-src 'self')
// allows it; without JavaScript the visible button does the same.
document.getElementById('form-post').submit();
