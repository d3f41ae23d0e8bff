// A relying party built on express-openid-connect (Auth0's Express
// middleware), run by TestExpressOpenIDConnect. It serves:
//   /login, /callback, /logout   the middleware's routes
//   /profile                     the signed-in user's claims (JSON)
//   /refresh                     refreshes the tokens with the refresh token
// Environment: ISSUER, BASE_URL (no trailing slash, as people write it),
// CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, PORT.
import express from 'express';
import eoc from 'express-openid-connect';

const { auth, requiresAuth } = eoc;
const env = process.env;
for (const k of ['ISSUER', 'BASE_URL', 'CLIENT_ID', 'CLIENT_SECRET', 'SESSION_SECRET', 'PORT']) {
  if (!env[k]) throw new Error(`${k} is not set`);
}

const app = express();
app.use(auth({
  issuerBaseURL: env.ISSUER,
  baseURL: env.BASE_URL,
  clientID: env.CLIENT_ID,
  clientSecret: env.CLIENT_SECRET,
  secret: env.SESSION_SECRET,
  authRequired: false,
  idpLogout: true,
  authorizationParams: { response_type: 'code', scope: 'openid email profile offline_access' },
}));
app.get('/', (req, res) => res.send(req.oidc.isAuthenticated() ? 'signed in' : 'signed out'));
app.get('/profile', requiresAuth(), (req, res) => res.json(req.oidc.user));
app.get('/refresh', requiresAuth(), async (req, res, next) => {
  try {
    const before = req.oidc.accessToken.access_token;
    const after = await req.oidc.accessToken.refresh();
    const userinfo = await req.oidc.fetchUserInfo();
    res.json({ rotated: after.access_token !== before, userinfo });
  } catch (err) {
    next(err);
  }
});
app.listen(Number(env.PORT), '127.0.0.1', () => console.log('express RP listening'));
