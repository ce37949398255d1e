import {
  type AddressSpace,
  DataType,
  type ExtensionObject,
  type Namespace,
  promoteToStateMachine,
  StatusCodes,
  type UADataType,
  type UAEventType,
  type UAMethod,
  type UAObject,
  type UAStateMachineEx,
  type UAVariable,
  Variant,
  VariantArrayType,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { CameraStatus } from '../capture/index.js';
import type { Decision } from '../decision/index.js';
import { AgentError, ErrorCodes } from '../errors.js';
import { type ResultFields, resultFieldsOf, type VisionState, visionStateOf } from './mapping.js';
import type { OpcUaParts } from './types.js';

export const MACHINE_VISION_URI = 'http://opcfoundation.org/UA/MachineVision';

type MethodResult = { statusCode: (typeof StatusCodes)['Good']; outputArguments?: Variant[] };

/** TriStateBooleanDataType: FALSE_0, TRUE_1, DONTCARE_2. */
const TRI_TRUE = 1;
const TRI_FALSE = 0;

/**
 * One camera as an OPC 40100-1 `VisionSystemType` instance: the vision state machine follows the camera's
 * state; Halt and Reset disable and enable the camera; RecipeManagement selects among the agent's recipes
 * (PrepareRecipe switches, for every camera: recipes are agent-wide); ResultManagement finds a decision
 * by its id; every decision raises a `ResultReadyEventType` event on it (bubbling up to the Server object).
 */
export class VisionSystem {
  readonly node: UAObject;
  private readonly stateMachine: UAStateMachineEx;
  private readonly resultReady: UAEventType;
  private readonly activeRecipe: UAVariable;
  private state: VisionState | undefined;

  constructor(
    private readonly addressSpace: AddressSpace,
    private readonly mv: number,
    own: Namespace,
    folder: UAObject,
    private readonly cameraId: string,
    private readonly parts: OpcUaParts,
    private readonly log: Logger,
  ) {
    const type = addressSpace.findObjectType('VisionSystemType', mv);
    const resultReady = addressSpace.findEventType('ResultReadyEventType', mv);
    if (!type || !resultReady)
      throw new AgentError(ErrorCodes.OPCUA_START, 'the Machine Vision nodeset is not loaded');
    this.resultReady = resultReady;
    this.node = type.instantiate({
      browseName: cameraId,
      componentOf: folder,
      optionals: ['RecipeManagement', 'ResultManagement'],
      eventSourceOf: addressSpace.rootFolder.objects.server,
    });
    const sm = this.node.getComponentByName('VisionStateMachine', mv) as UAObject;
    this.stateMachine = promoteToStateMachine(sm);
    this.activeRecipe = own.addVariable({
      componentOf: this.node,
      browseName: 'ActiveRecipe',
      dataType: DataType.String,
      description: 'The recipe parts are judged by now (agent-wide; docs/recipes.md)',
      // sampled, and touched on every switch, so a subscription sees a switch at once
      minimumSamplingInterval: 500,
      value: { get: () => new Variant({ dataType: DataType.String, value: parts.recipe?.()?.id ?? '' }) },
    });
    this.bindMethods(sm);
  }

  /** Follows the camera (called on its state events and once a second). */
  refresh(status: CameraStatus, captureOk: boolean | null = null): void {
    const next = visionStateOf(status, captureOk);
    if (next === this.state) return;
    this.state = next;
    this.stateMachine.setState(next);
  }

  get currentState(): VisionState | undefined {
    return this.state;
  }

  recipeChanged(): void {
    this.activeRecipe.touchValue();
  }

  /** One ResultReadyEvent for one decision. */
  resultReadyFor(d: Decision): void {
    const f = resultFieldsOf(d);
    this.node.raiseEvent(this.resultReady, {
      resultId: this.ext('ResultIdDataType', { id: f.resultId }),
      isPartial: { dataType: DataType.Boolean, value: false },
      isSimulated: { dataType: DataType.Boolean, value: false },
      resultState: { dataType: DataType.Int32, value: f.resultState },
      ...(f.partId !== undefined ? { partId: this.ext('PartIdDataType', { id: f.partId }) } : {}),
      externalRecipeId: this.ext('RecipeIdExternalDataType', { id: f.recipe }),
      internalRecipeId: this.ext('RecipeIdInternalDataType', { id: f.recipe }),
      internalConfigurationId: this.ext('ConfigurationIdDataType', { id: f.configuration }),
      jobId: this.ext('JobIdDataType', { id: f.jobId }),
      creationTime: { dataType: DataType.DateTime, value: f.creationTime },
      processingTimes: this.ext('ProcessingTimesDataType', f.processingTimes),
      resultContent: { dataType: DataType.Variant, arrayType: VariantArrayType.Array, value: content(f) },
    });
  }

  private bindMethods(sm: UAObject): void {
    const mv = this.mv;
    const method = (parent: UAObject | null, name: string) => parent?.getMethodByName(name, mv) ?? null;
    const recipes = this.node.getComponentByName('RecipeManagement', mv) as UAObject | null;
    const results = this.node.getComponentByName('ResultManagement', mv) as UAObject | null;
    this.bind(method(sm, 'Halt'), () => this.enable(false));
    this.bind(method(sm, 'Reset'), () => this.enable(true));
    this.bind(method(recipes, 'PrepareRecipe'), (args) => this.prepareRecipe(args));
    this.bind(method(recipes, 'UnprepareRecipe'), (args) => this.unprepareRecipe(args));
    this.bind(method(recipes, 'GetRecipeListFiltered'), (args) => this.recipeList(args));
    this.bind(method(results, 'GetResultById'), (args) => this.resultById(args));
    for (const name of ['GetResultComponentsById', 'GetResultListFiltered']) {
      this.bind(method(results, name), async () => ({ statusCode: StatusCodes.BadNotImplemented }));
    }
  }

  private bind(m: UAMethod | null, run: (args: Variant[]) => Promise<MethodResult>): void {
    // two parameters: node-opcua takes a function of any other arity for the callback style
    m?.bindMethod(async (args: Variant[], _context: unknown) => {
      try {
        return await run(args);
      } catch (err) {
        this.log.warn({ err, method: m.browseName.name }, 'OPC UA method failed');
        return { statusCode: statusOf(err) };
      }
    });
  }

  private async enable(enabled: boolean): Promise<MethodResult> {
    await this.parts.requests.run('camera/enable', { camera: this.cameraId, enabled }, 'opcua');
    const camera = this.parts.cameras.get(this.cameraId);
    if (camera) this.refresh(camera.snapshot(), camera.lastCaptureOk);
    return { statusCode: StatusCodes.Good, outputArguments: [int32(0)] };
  }

  /** PrepareRecipe(ExternalId, InternalIdIn): our recipes are agent-wide, so preparing one switches to it. */
  private async prepareRecipe(args: Variant[]): Promise<MethodResult> {
    const id = idOf(args[0]) ?? idOf(args[1]);
    if (!id) return { statusCode: StatusCodes.BadInvalidArgument };
    if (!this.parts.recipe) return { statusCode: StatusCodes.BadNotSupported };
    await this.parts.requests.run('recipe/select', { recipe: id }, 'opcua');
    const active = this.parts.recipe()?.id ?? id;
    return {
      statusCode: StatusCodes.Good,
      outputArguments: [
        this.extVariant('RecipeIdInternalDataType', { id: active }),
        new Variant({ dataType: DataType.Boolean, value: true }),
        int32(0),
      ],
    };
  }

  /** The active recipe cannot be unprepared (parts need one): select another. Any other is not prepared. */
  private async unprepareRecipe(args: Variant[]): Promise<MethodResult> {
    const id = idOf(args[0]) ?? idOf(args[1]);
    if (!id) return { statusCode: StatusCodes.BadInvalidArgument };
    if (id === this.parts.recipe?.()?.id) return { statusCode: StatusCodes.BadInvalidState };
    return {
      statusCode: StatusCodes.Good,
      outputArguments: [this.extVariant('RecipeIdInternalDataType', { id }), int32(0)],
    };
  }

  /** GetRecipeListFiltered(ExternalId, ProductId, IsPrepared, MaxResults, StartIndex, Timeout). */
  private async recipeList(args: Variant[]): Promise<MethodResult> {
    const wanted = idOf(args[0]);
    const prepared = Number(args[2]?.value ?? 2);
    const max = Number(args[3]?.value ?? 0) || Number.MAX_SAFE_INTEGER;
    const start = Number(args[4]?.value ?? 0);
    const active = this.parts.recipe?.()?.id;
    const all = (this.parts.recipes?.() ?? []).filter(
      (r) =>
        (wanted === undefined || r.id === wanted) &&
        (prepared === TRI_TRUE ? r.id === active : prepared === TRI_FALSE ? r.id !== active : true),
    );
    const page = all.slice(start, start + max);
    return {
      statusCode: StatusCodes.Good,
      outputArguments: [
        new Variant({ dataType: DataType.Boolean, value: start + page.length >= all.length }),
        new Variant({ dataType: DataType.UInt32, value: page.length }),
        new Variant({ dataType: DataType.UInt32, value: 0 }),
        new Variant({
          dataType: DataType.ExtensionObject,
          arrayType: VariantArrayType.Array,
          value: page.map((r) =>
            this.extension('RecipeIdInternalDataType', { id: r.id, description: r.description }),
          ),
        }),
        int32(0),
      ],
    };
  }

  /** GetResultById(ResultId, Timeout): the decision with that id, from the store, as a ResultDataType. */
  private async resultById(args: Variant[]): Promise<MethodResult> {
    const id = typeof args[0]?.value === 'string' ? args[0].value : idOf(args[0]);
    const d = id ? this.parts.decision(id) : undefined;
    if (!d || d.cameraId !== this.cameraId) return { statusCode: StatusCodes.BadNotFound };
    const f = resultFieldsOf(d);
    const result = this.extension('ResultDataType', {
      resultId: this.extension('ResultIdDataType', { id: f.resultId }),
      isPartial: false,
      resultState: f.resultState,
      ...(f.partId !== undefined ? { partId: this.extension('PartIdDataType', { id: f.partId }) } : {}),
      externalRecipeId: this.extension('RecipeIdExternalDataType', { id: f.recipe }),
      internalRecipeId: this.extension('RecipeIdInternalDataType', { id: f.recipe }),
      internalConfigurationId: this.extension('ConfigurationIdDataType', { id: f.configuration }),
      jobId: this.extension('JobIdDataType', { id: f.jobId }),
      creationTime: f.creationTime,
      processingTimes: this.extension('ProcessingTimesDataType', f.processingTimes),
      resultContent: content(f),
    });
    return {
      statusCode: StatusCodes.Good,
      outputArguments: [
        new Variant({ dataType: DataType.UInt32, value: 0 }),
        new Variant({ dataType: DataType.ExtensionObject, value: result }),
        int32(0),
      ],
    };
  }

  private dataType(name: string): UADataType {
    const t = this.addressSpace.findDataType(name, this.mv);
    if (!t) throw new AgentError(ErrorCodes.OPCUA_START, `the Machine Vision nodeset has no ${name}`);
    return t;
  }

  private extension(name: string, fields: Record<string, unknown>): ExtensionObject {
    return this.addressSpace.constructExtensionObject(this.dataType(name), fields);
  }

  private extVariant(name: string, fields: Record<string, unknown>): Variant {
    return new Variant({ dataType: DataType.ExtensionObject, value: this.extension(name, fields) });
  }

  private ext(name: string, fields: object): Variant {
    return this.extVariant(name, fields as Record<string, unknown>);
  }
}

function content(f: ResultFields): Variant[] {
  const [verdict, reason, degraded, result] = f.content;
  return [
    new Variant({ dataType: DataType.String, value: verdict }),
    new Variant({ dataType: DataType.String, value: reason }),
    new Variant({ dataType: DataType.Boolean, value: degraded }),
    new Variant({ dataType: DataType.String, value: result }),
  ];
}

function int32(value: number): Variant {
  return new Variant({ dataType: DataType.Int32, value });
}

/** The `id` of a BinaryIdBaseDataType-like argument (RecipeIdExternal, RecipeIdInternal, ...). */
function idOf(v: Variant | undefined): string | undefined {
  const value = v?.value as { id?: unknown } | null | undefined;
  return typeof value?.id === 'string' && value.id.length > 0 ? value.id : undefined;
}

/** A refused request as an OPC UA status: the caller's fault (4xx) is a bad argument or state. */
function statusOf(err: unknown) {
  if (err instanceof AgentError) {
    if (err.code === ErrorCodes.RECIPE_UNKNOWN || err.code === ErrorCodes.CAMERA_UNKNOWN) {
      return StatusCodes.BadInvalidArgument;
    }
    if (err.callerFault || err.code === ErrorCodes.RECIPE_BUSY) return StatusCodes.BadInvalidState;
  }
  return StatusCodes.BadInternalError;
}
