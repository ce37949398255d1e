import { z } from 'zod';
import { rulesOverrideSchema } from './rules-schema.js';

/**
 * Recipes (product changeover) and the OPC UA server: `recipes:`, `activeRecipe` and `opcua:` in agent.yaml
 * (CONTRACT section 2; docs/recipes.md, docs/opcua.md). References between keys (a recipe naming a camera or
 * a model that is not configured) are checked by recipe-checks.ts, with the other cross-key checks.
 */

const identifier = z.string().regex(/^[a-zA-Z0-9_-]+$/, 'must match [a-zA-Z0-9_-]+');

/** What a recipe overrides of one camera; keys it does not name keep the camera's own values. */
const recipeCameraSchema = z.strictObject({
  model: identifier.optional(),
  // merged key by key over the camera's rules (the region of interest is `rules.roi`)
  rules: rulesOverrideSchema.optional(),
  deadlineMs: z.number().int().positive().optional(),
});

export const recipeSchema = z.strictObject({
  id: identifier,
  // what a PLC writes into the recipe register; 0 there means "no request", so numbers start at 1
  number: z.number().int().min(1).max(65_535),
  // extension: shown in status, the OPC UA recipe list and the technician page
  description: z.string().max(200).optional(),
  // extension: keep this recipe's models loaded while another recipe is active, so switching to it takes
  // milliseconds instead of a model load (docs/recipes.md)
  preload: z.boolean().default(false),
  cameras: z.record(identifier, recipeCameraSchema).default({}),
});

const securityMode = z.enum(['signAndEncrypt', 'sign', 'none']);

export const opcuaSchema = z.strictObject({
  enabled: z.boolean().default(false),
  port: z.number().int().min(1).max(65_535).default(4840),
  // extension: the address the server binds (default: every interface)
  host: z.string().min(1).optional(),
  // extension: the message security modes offered; `none` only when listed here (docs/opcua.md)
  securityModes: z.array(securityMode).min(1).default(['signAndEncrypt']),
  // extension: the server's certificate and the client trust list (default: <store dir>/opcua-pki)
  pkiDir: z.string().min(1).optional(),
  // extension: trust every client certificate on first sight (commissioning only; default: a client's
  // certificate lands in <pkiDir>/rejected until someone moves it to trusted)
  autoAcceptClientCertificates: z.boolean().default(false),
  // extension: anonymous sessions (on a secured channel, the client certificate is the credential)
  allowAnonymous: z.boolean().default(true),
  // extension: user name / password logins, e.g. `password: ${OPCUA_PASSWORD}`
  users: z.array(z.strictObject({ username: z.string().min(1), password: z.string().min(1) })).default([]),
});
