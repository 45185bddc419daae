// OpenID Connect for Identity Assurance with openid-client: discovery metadata, then a code flow
// asking the verified_claims scope; openid-client validates the ID token (signature, iss, aud,
// nonce, PKCE) and the userinfo response (sub matches), and we report the verified_claims it got.
//
// INTEROP_PARAMS: {issuer, client_id, client_secret, redirect_uri, scope, login, password}
// Prints {"steps": {...}} (see lib.mjs).
import { Browser, client, codeRequest, discover, finish, params, step } from './lib.mjs'

const browser = new Browser({ login: params.login, password: params.password })
let config

await step('discovery', async () => {
  config = await discover({ ...params, auth: 'basic' })
  const meta = config.serverMetadata()
  return {
    verified_claims_supported: meta.verified_claims_supported ?? null,
    trust_frameworks_supported: meta.trust_frameworks_supported ?? null,
    evidence_supported: meta.evidence_supported ?? null,
    claims_in_verified_claims_supported: meta.claims_in_verified_claims_supported ?? null,
    claims_supported: meta.claims_supported ?? null,
    acr_values_supported: meta.acr_values_supported ?? null,
  }
})

let tokens
await step('code_grant', async () => {
  const { parameters, checks } = await codeRequest(params)
  const url = client.buildAuthorizationUrl(config, parameters)
  const { callback } = await browser.authorize(url, params.redirect_uri)
  tokens = await client.authorizationCodeGrant(config, new URL(callback), checks)
  return { scope: tokens.scope, claims: tokens.claims() }
})

await step('userinfo', async () => client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub))

// The claims parameter (OIDC Core §5.5): only the name, only at userinfo, with no verified_claims scope.
let narrow
await step('claims_parameter', async () => {
  const { parameters, checks } = await codeRequest({ ...params, scope: 'openid' })
  const claims = JSON.stringify({ userinfo: { verified_claims: { verification: { trust_framework: null },
    claims: { name: null } } } })
  const url = client.buildAuthorizationUrl(config, { ...parameters, claims })
  const { callback } = await browser.authorize(url, params.redirect_uri)
  narrow = await client.authorizationCodeGrant(config, new URL(callback), checks)
  return { scope: narrow.scope, claims: narrow.claims() }
})
await step('claims_parameter_userinfo', async () =>
  client.fetchUserInfo(config, narrow.access_token, narrow.claims().sub))

finish()
