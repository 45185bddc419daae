// A relying party using the stronger options openid-client v6 offers, all at once: client
// authentication with private_key_jwt, pushed authorization requests (RFC 9126) and DPoP-bound
// tokens (RFC 9449) for the code grant, the refresh grant and userinfo.
//
// INTEROP_PARAMS: {issuer, client_id, private_jwk (ES256, with kid), redirect_uri, scope, login, password}
// Prints {"steps": {...}} (see lib.mjs).
import { Browser, client, codeRequest, finish, jwtHeader, params, recordingFetch, step } from './lib.mjs'

const browser = new Browser({ login: params.login, password: params.password })
let config
let dpop
let otherDpop

await step('discovery', async () => {
  const { d, ...publicJwk } = params.private_jwk
  const key = await crypto.subtle.importKey('jwk', params.private_jwk, { name: 'ECDSA', namedCurve: 'P-256' },
    false, ['sign'])
  config = await client.discovery(new URL(params.issuer), params.client_id, {},
    client.PrivateKeyJwt({ key, kid: params.private_jwk.kid }), { [client.customFetch]: recordingFetch })
  config[client.customFetch] = recordingFetch
  dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
  otherDpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
  const meta = config.serverMetadata()
  return {
    public_kid: publicJwk.kid,
    par_endpoint: meta.pushed_authorization_request_endpoint ?? null,
    dpop_algs: meta.dpop_signing_alg_values_supported ?? null,
    auth_methods: meta.token_endpoint_auth_methods_supported,
    auth_signing_algs: meta.token_endpoint_auth_signing_alg_values_supported ?? null,
  }
})

let flow
await step('par_login', async () => {
  const { parameters, checks } = await codeRequest(params)
  const url = await client.buildAuthorizationUrlWithPAR(config, parameters, { DPoP: dpop })
  const { callback, chain } = await browser.authorize(url.href, params.redirect_uri)
  flow = { callback: new URL(callback), checks }
  return { authorization_url_params: Object.fromEntries(url.searchParams), chain }
})

let tokens
await step('dpop_code_grant', async () => {
  tokens = await client.authorizationCodeGrant(config, flow.callback, flow.checks, undefined, { DPoP: dpop })
  return { token_type: tokens.token_type, access_token_header: jwtHeader(tokens.access_token),
           access_token_cnf: JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url')).cnf ?? null,
           claims: tokens.claims() }
})
await step('dpop_userinfo', async () => client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub, { DPoP: dpop }))
await step('dpop_userinfo_other_key', async () =>
  client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub, { DPoP: otherDpop }))
await step('bearer_userinfo_with_dpop_token', async () =>
  client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub))
await step('dpop_refresh_other_key', async () => {
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: otherDpop })
  return { token_type: refreshed.token_type }
})
await step('dpop_refresh', async () => {
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop })
  return { token_type: refreshed.token_type, rotated: refreshed.refresh_token !== tokens.refresh_token }
})

finish()
