import { timingSafeEqual } from 'node:crypto';
import { format } from 'node:util';
import {
  type AddressSpace,
  LogLevel,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  setErrorLogger,
  setLogLevel,
  setWarningLogger,
  type UAObject,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { OpcUaConfig } from '../config/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import { AGENT_VERSION } from '../version.js';
import type { OpcUaParts } from './types.js';
import { MACHINE_VISION_URI, VisionSystem } from './vision-system.js';

/**
 * The node-opcua side of the server: loaded only when `opcua.enabled` (opcua-service.ts imports this file
 * lazily), because node-opcua takes about half a second to import and most agents never need it.
 */

const MODES = {
  signAndEncrypt: MessageSecurityMode.SignAndEncrypt,
  sign: MessageSecurityMode.Sign,
  none: MessageSecurityMode.None,
} as const;

/**
 * node-opcua warnings that do not apply to this server's setup (logged at debug): W27 is about RSA PKCS#1 v1.5
 * encryption, which only the policies not offered here use; the Machine Vision nodeset's state machine has
 * duplicate FromState references (OPC 40100's own NodeSet2 file), which node-opcua reports, many lines long,
 * at every state transition.
 */
const NOT_OURS =
  /NODE-OPCUA-W27|security-revert=CVE-2023-46809|duplicated FromState Reference|^fromStateNode:|possible transition|^ (From|To)State +=/;

/** The current policies only: no Basic128Rsa15/Basic256 (SHA-1, PKCS#1 v1.5 encryption). */
const SECURE_POLICIES = [
  SecurityPolicy.Basic256Sha256,
  SecurityPolicy.Aes128_Sha256_RsaOaep,
  SecurityPolicy.Aes256_Sha256_RsaPss,
];

export interface VisionServer {
  readonly endpoint: string;
  readonly systems: ReadonlyMap<string, VisionSystem>;
  shutdown(): Promise<void>;
}

export async function startVisionServer(
  config: OpcUaConfig,
  opts: { pkiDir: string; agentId: string; parts: OpcUaParts; log: Logger },
): Promise<VisionServer> {
  const { log } = opts;
  // node-opcua writes its own warnings to the console; ours are JSON lines
  setWarningLogger((_ctx: unknown, ...args: unknown[]) => {
    const message = format(...args);
    if (NOT_OURS.test(message)) log.debug({ source: 'node-opcua' }, message);
    else log.warn({ source: 'node-opcua' }, message);
  });
  setErrorLogger((_ctx: unknown, ...args: unknown[]) => log.error({ source: 'node-opcua' }, format(...args)));
  setLogLevel(LogLevel.Warning);

  const modes = config.securityModes.map((m) => MODES[m]);
  const certificateManager = new OPCUACertificateManager({
    rootFolder: opts.pkiDir,
    automaticallyAcceptUnknownCertificate: config.autoAcceptClientCertificates,
  });
  const server = new OPCUAServer({
    port: config.port,
    // bound to one address: that address is also the endpoint's host, so clients find the endpoint they dial
    ...(config.host
      ? { host: config.host, ...(config.host !== '0.0.0.0' ? { hostname: config.host } : {}) }
      : {}),
    nodeset_filename: [nodesets.standard, nodesets.machineVision],
    serverCertificateManager: certificateManager,
    securityModes: modes,
    securityPolicies: [
      ...SECURE_POLICIES,
      ...(config.securityModes.includes('none') ? [SecurityPolicy.None] : []),
    ],
    allowAnonymous: config.allowAnonymous,
    ...(config.users.length > 0 ? { userManager: { isValidUser: userCheck(config.users) } } : {}),
    buildInfo: {
      productName: 'edge-vision-agent',
      productUri: `urn:edge-vision-agent:${opts.agentId}`,
      manufacturerName: 'edge-vision-agent',
      softwareVersion: AGENT_VERSION,
    },
    serverInfo: { applicationUri: `urn:edge-vision-agent:${opts.agentId}`, productUri: 'edge-vision-agent' },
  });
  try {
    await server.initialize();
    const systems = buildAddressSpace(server.engine.addressSpace as AddressSpace, opts);
    await server.start();
    const endpoint = server.getEndpointUrl();
    if (config.securityModes.includes('none')) {
      log.warn(
        { endpoint },
        'OPC UA security mode None is enabled: anyone on the network can read and command',
      );
    }
    log.info(
      { endpoint, securityModes: config.securityModes, pkiDir: opts.pkiDir },
      'OPC UA server listening',
    );
    return { endpoint, systems, shutdown: () => server.shutdown(1_000) };
  } catch (err) {
    await server.shutdown(0).catch(() => undefined);
    throw new AgentError(
      ErrorCodes.OPCUA_START,
      `OPC UA server cannot start on port ${config.port}: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }
}

/** Objects/VisionSystems/<cameraId>: one VisionSystemType instance per camera. */
function buildAddressSpace(
  addressSpace: AddressSpace,
  opts: { parts: OpcUaParts; log: Logger },
): Map<string, VisionSystem> {
  const mv = addressSpace.getNamespaceIndex(MACHINE_VISION_URI);
  if (mv < 0) throw new AgentError(ErrorCodes.OPCUA_START, 'the Machine Vision nodeset did not load');
  const own = addressSpace.getOwnNamespace();
  const folder = own.addFolder(addressSpace.rootFolder.objects, { browseName: 'VisionSystems' }) as UAObject;
  const systems = new Map<string, VisionSystem>();
  for (const [id, camera] of opts.parts.cameras) {
    const system = new VisionSystem(addressSpace, mv, own, folder, id, opts.parts, opts.log);
    system.refresh(camera.snapshot(), camera.lastCaptureOk);
    systems.set(id, system);
  }
  return systems;
}

function userCheck(users: OpcUaConfig['users']) {
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  return (username: string, password: string): boolean =>
    users.some((u) => same(u.username, username) && same(u.password, password));
}
