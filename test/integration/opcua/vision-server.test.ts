import { join } from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItem,
  type ClientSession,
  coerceNodeId,
  constructEventFilter,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  ofType,
  SecurityPolicy,
  TimestampsToReturn,
  type Variant,
} from 'node-opcua';
import t from 'tap';
import { tempDir } from '../../helpers/agent-process.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { recipeAgent } from '../../helpers/recipes.js';

const MV = 'http://opcfoundation.org/UA/MachineVision';

/** The fields of a ResultReadyEvent a client selects (browse names in the Machine Vision namespace). */
const FIELDS = [
  'ResultId',
  'PartId',
  'InternalRecipeId',
  'ExternalRecipeId',
  'ResultState',
  'ProcessingTimes',
  'ResultContent',
  'IsPartial',
];

function client(dir: string, securityMode: MessageSecurityMode) {
  return OPCUAClient.create({
    applicationName: 'eva-test-client',
    securityMode,
    securityPolicy:
      securityMode === MessageSecurityMode.None ? SecurityPolicy.None : SecurityPolicy.Basic256Sha256,
    endpointMustExist: true,
    connectionStrategy: { maxRetry: 0, initialDelay: 100 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: join(dir, 'client-pki'),
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
}

/** The Machine Vision nodeset's numeric ids of the data types the test builds. */
const DATA_TYPES: Record<string, number> = { RecipeIdExternalDataType: 3002, ResultIdDataType: 3021 };
const RESULT_READY_EVENT = 1024;

const idOf = (v: Variant | undefined) => (v?.value as { id?: string } | null | undefined)?.id;

t.test(
  'OPC UA: browse the VisionSystem, ResultReady per decision, recipes by method, Halt/Reset',
  async (t) => {
    const port = await freePort();
    const dir = tempDir('eva-opcua-');
    const { agent } = recipeAgent({
      dir,
      preloadB: true,
      extra: `opcua: { enabled: true, port: ${port}, host: 127.0.0.1, pkiDir: ${dir}/pki, autoAcceptClientCertificates: true }\n`,
    });
    await agent.start();
    t.teardown(() => agent.stop());
    const url = `opc.tcp://127.0.0.1:${port}`;

    // security mode None is not offered unless configured: a channel without security (allowed for
    // discovery only) gets no session
    const plain = client(dir, MessageSecurityMode.None);
    const refused = plain.connect(url).then(() => plain.createSession());
    await t.rejects(refused, 'no session without security');
    await plain.disconnect();

    const c = client(dir, MessageSecurityMode.SignAndEncrypt);
    await c.connect(url);
    const session: ClientSession = await c.createSession();
    t.teardown(async () => {
      await session.close();
      await c.disconnect();
    });
    const ns = (await session.readNamespaceArray()).indexOf(MV);
    t.ok(ns > 0, 'the Machine Vision namespace is there');

    // browse: Objects/VisionSystems/cam-1, a VisionSystemType with its state machine, recipes and results
    const path = async (p: string) => {
      const r = await session.translateBrowsePath({
        startingNode: 'ns=0;i=85',
        relativePath: (await import('node-opcua')).makeRelativePath(p),
      });
      const target = r.targets?.[0]?.targetId;
      if (!target) throw new Error(`no node at ${p}`);
      return target;
    };
    const own = (await session.readNamespaceArray()).findIndex((u) => u.startsWith('urn:edge-vision-agent'));
    t.ok(own > 0, 'the agent`s own namespace');
    const camNode = await path(`/${own}:VisionSystems/${own}:cam-1`);
    const refs = await session.browse({ nodeId: camNode, browseDirection: 0, resultMask: 63 });
    const names = refs.references?.map((r) => r.browseName.name) ?? [];
    t.ok(
      ['VisionStateMachine', 'RecipeManagement', 'ResultManagement', 'ActiveRecipe'].every((n) =>
        names.includes(n),
      ),
      names.join(','),
    );
    const typeDef = refs.references?.find((r) => r.referenceTypeId.value === 40);
    const typeName = await session.read({
      nodeId: typeDef?.nodeId ?? camNode,
      attributeId: AttributeIds.BrowseName,
    });
    t.equal((typeName.value.value as { name: string }).name, 'VisionSystemType');
    const stateNode = await path(`/${own}:VisionSystems/${own}:cam-1/${ns}:VisionStateMachine/CurrentState`);
    const state = async () =>
      ((await session.read({ nodeId: stateNode })).value.value as { text: string }).text;
    // the server starts before the cameras; the state machine follows them within a second
    t.ok(
      await waitFor(async () => (await state()) === 'Operational', 5_000, 'Operational'),
      'a running camera is Operational',
    );

    // ResultReady events, one per decision, selected from the Server object
    const sub = await session.createSubscription2({
      requestedPublishingInterval: 50,
      publishingEnabled: true,
    });
    const filter = constructEventFilter(
      FIELDS.map((f) => `${ns}:${f}`),
      ofType(coerceNodeId(`ns=${ns};i=${RESULT_READY_EVENT}`)), // state changes are events too
    );
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId: 'ns=0;i=2253', attributeId: AttributeIds.EventNotifier },
      { queueSize: 100, filter, discardOldest: true, samplingInterval: 0 },
      TimestampsToReturn.Neither,
    );
    const events: Variant[][] = [];
    item.on('changed', (values: Variant[]) => events.push(values));
    await new Promise((r) => setTimeout(r, 300));
    const camera = agent.cameras.get('cam-1');
    if (!camera) throw new Error('no camera');
    const d1 = await camera.trigger('A-1');
    const d2 = await camera.trigger('A-2');
    await waitFor(() => events.length >= 2, 10_000, 'two ResultReady events');
    t.same(
      events.map((e) => [idOf(e[0]), idOf(e[1]), idOf(e[2]), idOf(e[3]), e[4]?.value]),
      [
        [d1.id, 'A-1', 'product-a', 'product-a', 1],
        [d2.id, 'A-2', 'product-a', 'product-a', 1],
      ],
      'ResultId, PartId, recipe ids and ResultState (1 Completed) per decision',
    );
    const content = events[0]?.[6]?.value as Variant[];
    t.same(
      content.slice(0, 3).map((v) => v.value),
      ['NG', d1.reason, false],
      'the verdict in ResultContent',
    );
    t.match(JSON.parse(String(content[3]?.value)), { task: 'classification', scores: { scratch: Number } });
    const times = events[0]?.[5]?.value as { startTime: Date; endTime: Date };
    t.equal(times.endTime.getTime(), d1.decidedAt, 'processing ends at the decision');

    // recipes through RecipeManagement
    const recipesNode = await path(`/${own}:VisionSystems/${own}:cam-1/${ns}:RecipeManagement`);
    const method = async (parent: string, name: string) => path(`${parent}/${ns}:${name}`);
    const rmPath = `/${own}:VisionSystems/${own}:cam-1/${ns}:RecipeManagement`;
    const external = async (id: string) => ({
      dataType: DataType.ExtensionObject,
      value: await session.constructExtensionObject(await typeId('RecipeIdExternalDataType'), { id }),
    });
    const typeId = async (name: string) => coerceNodeId(`ns=${ns};i=${DATA_TYPES[name]}`);
    const prepare = await method(rmPath, 'PrepareRecipe');
    const none = { dataType: DataType.ExtensionObject, value: null };
    const prepared = await session.call({
      objectId: recipesNode,
      methodId: prepare,
      inputArguments: [await external('product-b'), none],
    });
    t.equal(prepared.statusCode.name, 'Good');
    t.equal(idOf(prepared.outputArguments?.[0]), 'product-b');
    t.equal(prepared.outputArguments?.[1]?.value, true, 'IsCompleted');
    t.equal(agent.recipes?.activeRecipe.id, 'product-b', 'PrepareRecipe switched the agent`s recipe');
    const d3 = await camera.trigger('B-1');
    await waitFor(() => events.length >= 3, 10_000, 'the third event');
    t.same([idOf(events[2]?.[0]), idOf(events[2]?.[1]), idOf(events[2]?.[2])], [d3.id, 'B-1', 'product-b']);
    t.equal(((events[2]?.[6]?.value ?? []) as Variant[])[0]?.value, 'OK', 'judged by product-b');

    const unknown = await session.call({
      objectId: recipesNode,
      methodId: prepare,
      inputArguments: [await external('product-z'), none],
    });
    t.equal(unknown.statusCode.name, 'BadInvalidArgument', 'an unknown recipe is refused');
    t.equal(agent.recipes?.activeRecipe.id, 'product-b');

    const list = await session.call({
      objectId: recipesNode,
      methodId: await method(rmPath, 'GetRecipeListFiltered'),
      inputArguments: [
        none,
        none,
        { dataType: DataType.Int32, value: 2 },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.Int32, value: 0 },
      ],
    });
    t.equal(list.statusCode.name, 'Good');
    t.same(
      ((list.outputArguments?.[3]?.value ?? []) as { id: string }[]).map((r) => r.id),
      ['product-a', 'product-b'],
    );

    // a result by its id, from the store
    const rmResults = `/${own}:VisionSystems/${own}:cam-1/${ns}:ResultManagement`;
    const byId = await session.call({
      objectId: await path(rmResults),
      methodId: await method(rmResults, 'GetResultById'),
      inputArguments: [
        {
          dataType: DataType.ExtensionObject,
          value: await session.constructExtensionObject(await typeId('ResultIdDataType'), { id: d1.id }),
        },
        { dataType: DataType.Int32, value: 0 },
      ],
    });
    t.equal(byId.statusCode.name, 'Good');
    t.match(byId.outputArguments?.[1]?.value, {
      resultId: { id: d1.id },
      partId: { id: 'A-1' },
      resultState: 1,
    });

    // Halt and Reset: the camera is disabled and enabled again, and the state machine follows
    const smPath = `/${own}:VisionSystems/${own}:cam-1/${ns}:VisionStateMachine`;
    const cause = [
      { dataType: DataType.Int32, value: 0 },
      { dataType: DataType.String, value: 'test' },
    ];
    const halt = await session.call({
      objectId: await path(smPath),
      methodId: await method(smPath, 'Halt'),
      inputArguments: cause,
    });
    t.equal(halt.statusCode.name, 'Good');
    t.equal(camera.snapshot().enabled, false);
    await waitFor(async () => (await state()) === 'Halted', 5_000, 'Halted');
    const reset = await session.call({
      objectId: await path(smPath),
      methodId: await method(smPath, 'Reset'),
      inputArguments: cause,
    });
    t.equal(reset.statusCode.name, 'Good');
    await waitFor(async () => (await state()) === 'Operational', 5_000, 'Operational again');

    // every OPC UA command is in the audit trail
    const logged = (await (
      await fetch(`http://127.0.0.1:${agent.http.port}/api/requests?limit=20`)
    ).json()) as {
      requests: { name: string; via: string; status: string }[];
    };
    t.same(
      logged.requests
        .filter((r) => r.via === 'opcua')
        .map((r) => [r.name, r.status])
        .reverse(),
      [
        ['recipe/select', 'ok'],
        ['recipe/select', 'error'],
        ['camera/enable', 'ok'],
        ['camera/enable', 'ok'],
      ],
    );
    t.match(agent.status().opcua, { running: true, events: 3, securityModes: ['signAndEncrypt'] });
  },
);
