// Step-up to urn:yitong:loa:3 with openid-client (issue 5 item 6): a person signs in (password and
// TOTP code) while at loa:2, proves a bank-card 4-factor match at /account/realname/strong (the
// account becomes loa:3), then the client asks acr_values=urn:yitong:loa:3: the provider sends the
// browser to the second-factor page and back, and openid-client validates an ID token whose acr is
// loa:3. A person who cannot reach loa:3 gets unmet_authentication_requirements, never a lower acr.
//
// INTEROP_PARAMS: {issuer, client_id, client_secret, redirect_uri, scope, login, password,
//                  totp_secret (optional), card_number, reserved_phone (for the strong journey)}
// Prints {"steps": {...}} (see lib.mjs).
import { Browser, client, codeRequest, discover, finish, params, step, totpCode } from './lib.mjs'

let codesUsed = 0 // each sign-in uses the next step's code: a code is accepted once
const totp = params.totp_secret ? () => totpCode(params.totp_secret, codesUsed++) : undefined
const browser = new Browser({ login: params.login, password: params.password, totp })
let config

await step('discovery', async () => {
  config = await discover({ ...params, auth: 'basic' })
  return { acr_values_supported: config.serverMetadata().acr_values_supported ?? null }
})

async function signIn(extra) {
  const { parameters, checks } = await codeRequest(params)
  const url = client.buildAuthorizationUrl(config, { ...parameters, ...extra })
  const { callback, chain, sawSecondFactor } = await browser.authorize(url, params.redirect_uri)
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), checks)
  const claims = tokens.claims()
  return { chain, sawSecondFactor, acr: claims.acr, amr: claims.amr, sub: claims.sub, auth_time: claims.auth_time }
}

await step('sign_in', async () => signIn({ acr_values: 'urn:yitong:loa:2' }))

if (params.card_number) {
  await step('strong_realname', async () => {
    const page = await (await browser.fetch(new URL('/account/realname/strong', params.issuer))).text()
    const csrf = page.match(/name="csrf" value="([^"]*)"/)?.[1]
    if (!csrf) throw new Error(`no form: ${page.slice(0, 800)}`)
    const body = new URLSearchParams({ csrf, method: 'bank', card_number: params.card_number,
                                       phone: params.reserved_phone })
    const response = await browser.fetch(new URL('/account/realname/strong', params.issuer), { method: 'POST', body })
    const html = await response.text()
    return { status: response.status, success: html.includes('id="strong-success"'),
             level: html.match(/id="strong-level" data-acr="([^"]*)"/)?.[1] ?? null }
  })
}

// The client asks for loa:3 (as after an RFC 9470 insufficient_user_authentication challenge).
await step('step_up', async () => signIn({ acr_values: 'urn:yitong:loa:3' }))

finish()
