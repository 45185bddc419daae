// A service (resource-server) client with openid-client: client credentials, introspection, revocation.
//
// INTEROP_PARAMS: {issuer, client_id, client_secret, auth: "basic"|"post", scope}
// Prints {"steps": {...}} (see lib.mjs).
import { client, discover, finish, jwtHeader, params, step } from './lib.mjs'

let config
let tokens

await step('discovery', async () => {
  config = await discover(params)
  return { issuer: config.serverMetadata().issuer }
})
await step('client_credentials', async () => {
  tokens = await client.clientCredentialsGrant(config, { scope: params.scope })
  return {
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    has_refresh_token: Boolean(tokens.refresh_token),
    has_id_token: Boolean(tokens.id_token),
    access_token_header: jwtHeader(tokens.access_token),
  }
})
await step('introspect', async () => client.tokenIntrospection(config, tokens.access_token))
await step('revoke', async () => {
  await client.tokenRevocation(config, tokens.access_token)
  return { revoked: true }
})
await step('introspect_after_revoke', async () => client.tokenIntrospection(config, tokens.access_token))
await step('wrong_secret', async () => {
  const wrong = await discover({ ...params, client_secret: `${params.client_secret}x` })
  return client.clientCredentialsGrant(wrong, { scope: params.scope })
})

finish()
