// The Kubernetes API boundary for Sessions: the few calls the store, status writer and finalizer
// make, behind one interface so unit tests can fake it and the rest never sees HTTP.
import { ApiException, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { API_GROUP } from '../../../crds/types.ts';
import type { SessionStatus } from '../../../crds/types.ts';
import type { JsonPatchOp } from '../../../reconciler/finalizer.ts';

export const SESSION_RESOURCE = { group: API_GROUP, version: 'v1alpha1', plural: 'sessions' } as const;
export const SESSION_CRD_NAME = `${SESSION_RESOURCE.plural}.${SESSION_RESOURCE.group}`;

/** A Session as the API server sends it: not yet validated, so everything but metadata is unknown. */
export interface KubeSessionObject extends KubernetesObject {
  spec?: unknown;
  status?: SessionStatus;
}

export type KubeSessionList = KubernetesListObject<KubeSessionObject>;

export interface SessionApi {
  /** Every Session in `namespace`, or in all namespaces. */
  list(namespace: string | undefined): Promise<KubeSessionList>;
  /** The live object, or undefined when it does not exist. */
  get(namespace: string, name: string): Promise<KubeSessionObject | undefined>;
  /** JSON merge patch of the status subresource. 'gone' when the object no longer exists. */
  patchStatus(namespace: string, name: string, patch: { status: Record<string, unknown> }): Promise<'ok' | 'gone'>;
  /**
   * JSON merge patch of the status subresource, only if the object is still at `resourceVersion`
   * (the scheduler's bindings). 'conflict' when it changed since.
   */
  patchStatusIf(namespace: string, name: string, resourceVersion: string, status: Record<string, unknown>): Promise<'ok' | 'conflict' | 'gone'>;
  /** JSON Patch of the object (finalizers). 'conflict' when a `test` op failed. */
  patch(namespace: string, name: string, ops: JsonPatchOp[]): Promise<'ok' | 'conflict' | 'gone'>;
}

/** HTTP status of an API error, when it has one. */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (typeof error === 'object' && error !== null) {
    const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
    if (typeof statusCode === 'number') return statusCode;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

export class KubeSessionApi implements SessionApi {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async list(namespace: string | undefined): Promise<KubeSessionList> {
    const list: unknown = namespace
      ? await this.api.listNamespacedCustomObject({ ...SESSION_RESOURCE, namespace })
      : await this.api.listClusterCustomObject(SESSION_RESOURCE);
    return list as KubeSessionList;
  }

  async get(namespace: string, name: string): Promise<KubeSessionObject | undefined> {
    try {
      const object: unknown = await this.api.getNamespacedCustomObject({ ...SESSION_RESOURCE, namespace, name });
      return object as KubeSessionObject;
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }

  async patchStatus(namespace: string, name: string, patch: { status: Record<string, unknown> }): Promise<'ok' | 'gone'> {
    try {
      await this.api.patchNamespacedCustomObjectStatus(
        { ...SESSION_RESOURCE, namespace, name, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return 'ok';
    } catch (error) {
      if (apiStatus(error) === 404) return 'gone';
      throw error;
    }
  }

  async patchStatusIf(namespace: string, name: string, resourceVersion: string, status: Record<string, unknown>): Promise<'ok' | 'conflict' | 'gone'> {
    try {
      // A resourceVersion in a merge patch is a precondition: the server answers 409 if it moved.
      await this.api.patchNamespacedCustomObjectStatus(
        { ...SESSION_RESOURCE, namespace, name, body: { metadata: { resourceVersion }, status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return 'ok';
    } catch (error) {
      const code = apiStatus(error);
      if (code === 404) return 'gone';
      if (code === 409) return 'conflict';
      throw error;
    }
  }

  async patch(namespace: string, name: string, ops: JsonPatchOp[]): Promise<'ok' | 'conflict' | 'gone'> {
    try {
      await this.api.patchNamespacedCustomObject(
        { ...SESSION_RESOURCE, namespace, name, body: ops },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      return 'ok';
    } catch (error) {
      const status = apiStatus(error);
      if (status === 404) return 'gone';
      // A failed `test` op is 422 (Unprocessable Entity); 409 if the object changed mid-write.
      if (status === 422 || status === 409) return 'conflict';
      throw error;
    }
  }
}
