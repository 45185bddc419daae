// One relying party's whole authorization-code journey with openid-client against Yitong.
//
// INTEROP_PARAMS: {issuer, client_id, client_secret?, auth: "basic"|"post"|"none", redirect_uri,
//                  post_logout_redirect_uri, scope, login, password,
//                  introspector: {client_id, client_secret, auth}, org?}  (a confidential client;
//                  org: what to choose when the provider asks whom the person acts for, a USCC or 'self')
// Prints {"steps": {...}} (see lib.mjs). Each authorization below runs in the same browser, so the
// first one signs in on the login form and the later ones ride on the SSO session.
import { Browser, client, codeRequest, discover, finish, jwtHeader, params, step } from './lib.mjs'

const browser = new Browser({ login: params.login, password: params.password, org: params.org })
let config
let introspector

/** Authorization request built by openid-client (PKCE S256, state, nonce), run in the browser. */
async function authorize(extra = {}) {
  const { parameters, checks } = await codeRequest(params)
  const url = client.buildAuthorizationUrl(config, { ...parameters, ...extra })
  const { callback, chain, sawLoginForm, sawConsent, sawOrgChooser } = await browser.authorize(url, params.redirect_uri)
  return { url, callback: new URL(callback), chain, sawLoginForm, sawConsent, sawOrgChooser, checks }
}

/** authorizationCodeGrant: checks iss (RFC 9207), state, PKCE, and the ID token (signature, claims, nonce). */
async function redeem(flow) {
  return client.authorizationCodeGrant(config, flow.callback, flow.checks)
}

function summarise(tokens) {
  return {
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    has_refresh_token: Boolean(tokens.refresh_token),
    has_id_token: Boolean(tokens.id_token),
    id_token_header: tokens.id_token ? jwtHeader(tokens.id_token) : null,
    access_token_header: jwtHeader(tokens.access_token),
    claims: tokens.claims() ?? null,
  }
}

await step('discovery', async () => {
  config = await discover(params)
  introspector = await discover({ issuer: params.issuer, ...params.introspector })
  const meta = config.serverMetadata()
  return {
    issuer: meta.issuer,
    supports_pkce: meta.supportsPKCE(),
    authorization_response_iss_parameter_supported: meta.authorization_response_iss_parameter_supported ?? null,
    end_session_endpoint: meta.end_session_endpoint ?? null,
    id_token_signing_alg_values_supported: meta.id_token_signing_alg_values_supported,
  }
})

// 1. Sign in, redeem the code, read userinfo, introspect.
let first
let tokens
await step('login', async () => {
  first = await authorize()
  return {
    chain: first.chain,
    saw_login_form: first.sawLoginForm,
    saw_consent: first.sawConsent,
    saw_org_chooser: first.sawOrgChooser,
    callback_params: Object.fromEntries([...first.callback.searchParams].map(([k, v]) => [k, k === 'code' ? '<code>' : v])),
    expected_state: first.checks.expectedState,
    authorization_request: Object.fromEntries(new URL(first.url).searchParams),
  }
})
await step('code_grant', async () => {
  tokens = await redeem(first)
  return { ...summarise(tokens), expected_nonce: first.checks.expectedNonce }
})
await step('userinfo', async () => client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub))
await step('introspect_access', async () => client.tokenIntrospection(introspector, tokens.access_token))
await step('introspect_refresh', async () =>
  client.tokenIntrospection(introspector, tokens.refresh_token, { token_type_hint: 'refresh_token' }))
await step('introspect_self', async () => client.tokenIntrospection(config, tokens.access_token))

// 2. Refresh rotation and reuse detection.
let refreshed
await step('refresh', async () => {
  refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  return {
    ...summarise(refreshed),
    refresh_token_rotated: refreshed.refresh_token !== tokens.refresh_token,
    access_token_changed: refreshed.access_token !== tokens.access_token,
  }
})
await step('refresh_reuse', async () => summarise(await client.refreshTokenGrant(config, tokens.refresh_token)))
await step('refresh_after_reuse', async () => summarise(await client.refreshTokenGrant(config, refreshed.refresh_token)))
await step('introspect_after_reuse', async () => client.tokenIntrospection(introspector, refreshed.access_token))

// 3. A second authorization in the same browser (SSO), and its code replayed.
let second
let secondTokens
await step('sso_code_grant', async () => {
  second = await authorize()
  secondTokens = await redeem(second)
  return { chain: second.chain, saw_login_form: second.sawLoginForm, saw_consent: second.sawConsent, ...summarise(secondTokens) }
})
await step('code_replay', async () => summarise(await redeem(second)))
await step('introspect_after_code_replay', async () => client.tokenIntrospection(introspector, secondTokens.access_token))
await step('refresh_after_code_replay', async () => summarise(await client.refreshTokenGrant(config, secondTokens.refresh_token)))

// 4. Revocation (RFC 7009) of an access token and of a refresh token.
let third
await step('revoke_setup', async () => {
  third = await redeem(await authorize())
  return summarise(third)
})
await step('revoke_access', async () => {
  await client.tokenRevocation(config, third.access_token, { token_type_hint: 'access_token' })
  return { revoked: true }
})
await step('userinfo_after_revoke', async () => client.fetchUserInfo(config, third.access_token, third.claims().sub))
await step('introspect_after_revoke', async () => client.tokenIntrospection(introspector, third.access_token))
await step('revoke_refresh', async () => {
  await client.tokenRevocation(config, third.refresh_token, { token_type_hint: 'refresh_token' })
  return { revoked: true }
})
await step('refresh_after_revoke', async () => summarise(await client.refreshTokenGrant(config, third.refresh_token)))

// 5. prompt=login signs in again despite the SSO session; max_age makes openid-client demand auth_time.
await step('prompt_login', async () => {
  const flow = await authorize({ prompt: 'login' })
  const result = summarise(await redeem(flow))
  return { chain: flow.chain, saw_login_form: flow.sawLoginForm, saw_consent: flow.sawConsent, ...result }
})
await step('max_age', async () => {
  const flow = await authorize({ max_age: '600' })
  const result = summarise(await redeem({ ...flow, checks: { ...flow.checks, maxAge: 600 } }))
  return { chain: flow.chain, ...result }
})

// 6. An authorization request without PKCE, which public clients must use.
let noPkce
if (params.auth === 'none') await step('no_pkce', async () => {
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, { redirect_uri: params.redirect_uri, scope: params.scope, state })
  const { callback, chain } = await browser.authorize(url, params.redirect_uri)
  noPkce = { callback: new URL(callback), checks: { expectedState: state } }
  return { request: url.href, chain, callback, callback_params: Object.fromEntries(noPkce.callback.searchParams) }
})
if (params.auth === 'none') await step('no_pkce_via_openid_client', async () => summarise(await redeem(noPkce)))

// 7. RP-initiated logout, then the session and its grants are gone.
let fourth
await step('logout_setup', async () => {
  fourth = await redeem(await authorize())
  return summarise(fourth)
})
await step('logout', async () => {
  const state = client.randomState()
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: fourth.id_token,
    post_logout_redirect_uri: params.post_logout_redirect_uri,
    state,
  })
  const response = await browser.fetch(url)
  return {
    request_params: Object.fromEntries([...url.searchParams].map(([k, v]) => [k, k === 'id_token_hint' ? '<id_token>' : v])),
    status: response.status,
    location: response.headers.get('location'),
    expected_state: state,
    sso_cookie_left: browser.cookies.has('yitong_sso'),
  }
})
await step('refresh_after_logout', async () => summarise(await client.refreshTokenGrant(config, fourth.refresh_token)))
await step('userinfo_after_logout', async () => client.fetchUserInfo(config, fourth.access_token, fourth.claims().sub))
let promptNone
await step('prompt_none_after_logout', async () => {
  promptNone = await authorize({ prompt: 'none' })
  return { request: promptNone.url.href, chain: promptNone.chain, callback: promptNone.callback.href, callback_params: Object.fromEntries(promptNone.callback.searchParams) }
})
// The same error response, now read by openid-client (RFC 9207: error responses carry iss too).
await step('prompt_none_via_openid_client', async () => summarise(await redeem(promptNone)))

finish()
