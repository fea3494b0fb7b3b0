/*
 * A scripted OpenXR runtime for psi-teleop's tests.
 *
 * The real OpenXR loader (the one bundled with pyopenxr) loads this shared library through
 * a runtime manifest named by XR_RUNTIME_JSON. It implements the calls the OpenXR input
 * backend makes -- instance, system, headless session and its state events, reference and
 * action spaces, action sets/actions/suggested bindings, sync, action states, hand joint
 * location, Vive tracker paths, time conversion -- and plays poses and inputs back from a
 * text script named by PSI_XR_SCRIPT. Nothing is rendered; it is not a conformant runtime.
 * Every entry point takes one process-wide lock, so an application may call it from several
 * threads at once (xrWaitFrame releases the lock while it waits for the display slot).
 *
 * Script format (one directive per line, '#' starts a comment, numbers are OpenXR-native:
 * stage space, y up, -z forward, metres, quaternions x y z w):
 *
 *   extensions NAME...            extensions offered (default: all the ones below)
 *   no_system                     xrGetSystem fails: no headset connected
 *   device TOPPATH PROFILE [SERIAL]   a connected device (e.g. /user/hand/left) and its
 *                                 interaction profile; SERIAL gives a Vive tracker its
 *                                 persistent path /devices/htc/vive_tracker<SERIAL>
 *   at T                          following samples apply from T seconds after xrBeginSession
 *   pose CHANNEL x y z qx qy qz qw    a pose, tracked (CHANNEL: /user/head or a binding path
 *                                 such as /user/hand/left/input/grip/pose)
 *   inferred CHANNEL              the pose stays valid but is no longer tracked
 *   untracked CHANNEL             the pose is invalid (tracking lost)
 *   value CHANNEL v               a float or boolean input (e.g. .../trigger/value, .../a/click)
 *   vec2 CHANNEL x y              a 2-D input (e.g. .../thumbstick)
 *   hand left|right x y z qx qy qz qw   hand tracked; 26 joints from a fixed template
 *   hand left|right untracked
 *   event session_loss|instance_loss|exiting   session/instance lost, or runtime quitting
 *   blend_modes MODE...           environment blend modes offered, preferred first
 *                                 (opaque, additive, alpha_blend; default: opaque)
 *   display_hz HZ                 display refresh rate xrWaitFrame paces to (default 90)
 *
 * Rendering (the headset view): with XR_KHR_opengl_enable + XR_MNDX_egl_enable enabled, a
 * session created with an XrGraphicsBindingEGLMNDX gets a frame loop and OpenGL swapchains.
 * Swapchain images are textures the runtime creates in the application's own EGL context
 * (current on the calling thread, as the OpenGL binding requires), through the binding's
 * getProcAddress, so the runtime links no GL library. On xrEndFrame the runtime reads the
 * first quad layer's released image back (glReadPixels from a framebuffer it attaches the
 * texture to) and, when PSI_XR_FRAME_DUMP names a file, writes it there as a binary PPM
 * (top row first, as the display would show it; written to a temporary file and renamed),
 * with a text sidecar FILE.txt describing the submitted frame:
 *
 *   frame N                       frames ended so far
 *   blend MODE                    the frame's XrEnvironmentBlendMode (1 opaque, 2 additive, 3 alpha blend)
 *   layers K                      layers submitted
 *   quad SPACE x y z qx qy qz qw W H   the quad's reference space type (1 view, 2 local, 3 stage), pose, size [m]
 *   display_time T                the frame's displayTime [XrTime ns]
 *   sessions_created N            sessions created on this instance, how many of them with a
 *   graphics_sessions_created G   graphics binding, and instance/session creations refused (one
 *   refused_creates R             already alive) since this instance was created
 *   locates L                     xrLocateSpace and xrSyncActions calls on this instance (an input
 *   syncs Y                       backend reading devices through the same session)
 *
 * Hand template (so tests can compute expectations): joint j (OpenXR order) sits at
 * T_hand * (0.002 j, 0.001 (j mod 5), -0.01 j) with the hand's orientation and radius
 * 0.004 + 0.0005 j [m].
 *
 * XrTime is CLOCK_MONOTONIC in nanoseconds plus TIME_OFFSET_NS, so a client that forgets
 * to convert times is visibly wrong.
 */
#define _GNU_SOURCE 1 /* PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP */
#define XR_USE_TIMESPEC 1
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openxr/openxr.h>
#include <openxr/openxr_platform.h>

#define EXPORT __attribute__((visibility("default")))

/* One lock around every entry point: an application may call the runtime from several threads
 * (the input backend polls from the teleop loop while the headset view runs the frame loop on
 * its own thread), as a real runtime allows. xrWaitFrame drops it while it sleeps. */
static pthread_mutex_t LOCK_ = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static void unlock_(int *unused) { (void)unused; pthread_mutex_unlock(&LOCK_); }
#define LOCK()                  \
    pthread_mutex_lock(&LOCK_); \
    int lock_guard_ __attribute__((cleanup(unlock_), unused)) = 0
/* Path-only extension (no types or functions), newer than Debian's headers. */
#define HTC_XR_TRACKER_EXTENSION_NAME "XR_HTC_vive_xr_tracker_interaction"
/* Declared by openxr_platform.h only with the GL/EGL headers, which the runtime does not need. */
#define OPENGL_ENABLE_EXTENSION_NAME "XR_KHR_opengl_enable"
#define EGL_ENABLE_EXTENSION_NAME "XR_MNDX_egl_enable"

/* ---- loader negotiation: Debian's openxr headers lack loader_interfaces.h ---- */
typedef enum XrLoaderInterfaceStructs {
    XR_LOADER_INTERFACE_STRUCT_UNINTIALIZED = 0,
    XR_LOADER_INTERFACE_STRUCT_LOADER_INFO,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_REQUEST,
    XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST,
} XrLoaderInterfaceStructs;

typedef struct XrNegotiateLoaderInfo {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t minInterfaceVersion;
    uint32_t maxInterfaceVersion;
    XrVersion minApiVersion;
    XrVersion maxApiVersion;
} XrNegotiateLoaderInfo;

typedef struct XrNegotiateRuntimeRequest {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t runtimeInterfaceVersion;
    XrVersion runtimeApiVersion;
    PFN_xrGetInstanceProcAddr getInstanceProcAddr;
} XrNegotiateRuntimeRequest;

/* ---- limits and state ---- */
#define MAX_PATHS 256
#define MAX_NAME 256
#define MAX_ACTIONS 64
#define MAX_BINDINGS 256
#define MAX_SPACES 64
#define MAX_CHANNELS 128
#define MAX_DEVICES 16
#define MAX_CMDS 4096
#define MAX_EVENTS 32
#define N_JOINTS XR_HAND_JOINT_COUNT_EXT
#define TIME_OFFSET_NS 1000000000000LL /* 1000 s between CLOCK_MONOTONIC and XrTime */

/* Handles are small tagged integers; tag * 0x1000 + index + 1. */
#define H(tag, i) ((uint64_t)(tag) * 0x1000u + (uint64_t)(i) + 1u)
#define HIDX(h, tag) ((int)((uint64_t)(uintptr_t)(h) - (uint64_t)(tag) * 0x1000u) - 1)
enum { TAG_INSTANCE = 1, TAG_SESSION, TAG_SPACE, TAG_SET, TAG_ACTION, TAG_HAND, TAG_SWAPCHAIN };
#define MAX_EXTENSIONS 16
#define MAX_SWAPCHAINS 8
#define SWAPCHAIN_IMAGES 3
#define MAX_BLEND 3

static const char *ALL_EXTENSIONS[] = {
    XR_MND_HEADLESS_EXTENSION_NAME, XR_EXT_HAND_TRACKING_EXTENSION_NAME,
    XR_HTCX_VIVE_TRACKER_INTERACTION_EXTENSION_NAME, XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME,
    HTC_XR_TRACKER_EXTENSION_NAME, OPENGL_ENABLE_EXTENSION_NAME, EGL_ENABLE_EXTENSION_NAME,
};

/* ---- OpenGL through the application's EGL context (no GL headers or library needed) ---- */
#define GL_TEXTURE_2D 0x0DE1
#define GL_RGBA8 0x8058
#define GL_SRGB8_ALPHA8 0x8C43
#define GL_RGBA 0x1908
#define GL_UNSIGNED_BYTE 0x1401
#define GL_READ_FRAMEBUFFER 0x8CA8
#define GL_READ_FRAMEBUFFER_BINDING 0x8CAA
#define GL_COLOR_ATTACHMENT0 0x8CE0
#define GL_FRAMEBUFFER_COMPLETE 0x8CD5
#define GL_PACK_ALIGNMENT 0x0D05
#define GL_TEXTURE_BINDING_2D 0x8069
#define GL_TEXTURE_MIN_FILTER 0x2801
#define GL_TEXTURE_MAG_FILTER 0x2800
#define GL_NEAREST 0x2600
typedef void (*PFN_getProc)(void);
typedef PFN_getProc (*PFN_eglGetProcAddress)(const char *);
typedef struct {
    void (*GenTextures)(int, unsigned *);
    void (*DeleteTextures)(int, const unsigned *);
    void (*BindTexture)(unsigned, unsigned);
    void (*TexImage2D)(unsigned, int, int, int, int, int, unsigned, unsigned, const void *);
    void (*TexParameteri)(unsigned, unsigned, int);
    void (*GenFramebuffers)(int, unsigned *);
    void (*DeleteFramebuffers)(int, const unsigned *);
    void (*BindFramebuffer)(unsigned, unsigned);
    void (*FramebufferTexture2D)(unsigned, unsigned, unsigned, unsigned, int);
    unsigned (*CheckFramebufferStatus)(unsigned);
    void (*ReadPixels)(int, int, int, int, unsigned, unsigned, void *);
    void (*PixelStorei)(unsigned, int);
    void (*GetIntegerv)(unsigned, int *);
    void (*Finish)(void);
} GLFns;
/* Mirrors of the platform structs (openxr_platform.h declares them only with EGL/GL headers). */
typedef struct { XrStructureType type; const void *next; PFN_eglGetProcAddress getProcAddress; void *display, *config, *context; } BindingEGL;
typedef struct { XrStructureType type; void *next; uint32_t image; } SwapchainImageGL;
typedef struct { XrStructureType type; void *next; XrVersion minApiVersionSupported, maxApiVersionSupported; } GLRequirements;
typedef struct {
    int alive;
    int64_t format;
    uint32_t width, height;
    unsigned tex[SWAPCHAIN_IMAGES];
    int next, acquired, released; /* next image to hand out; -1 when none acquired / released */
} Swapchain;
#define N_ALL_EXT (sizeof(ALL_EXTENSIONS) / sizeof(ALL_EXTENSIONS[0]))

typedef enum { CH_POSE, CH_VALUE, CH_VEC2, CH_HAND } ChannelKind;
typedef struct {
    char name[MAX_NAME];
    ChannelKind kind;
    XrSpaceLocationFlags flags; /* poses and hands: 0 = untracked */
    XrPosef pose;
    float v[2];
} Channel;

typedef enum { CMD_SET, CMD_EVENT } CmdKind;
typedef struct {
    double t; /* [s] after xrBeginSession */
    CmdKind kind;
    Channel ch; /* CMD_SET: the new channel contents */
    char event[32];
} Cmd;

typedef struct { XrPath top, profile; char serial[64]; } Device;
typedef struct { char name[64]; XrActionType type; XrPath sub[8]; uint32_t nsub; int alive; } Action;
typedef struct { XrPath profile, binding; int action; } Binding;
typedef struct { int alive; int is_action; XrReferenceSpaceType ref; int action; XrPath sub; XrPosef offset; } Space;

static struct {
    int loaded;
    char extensions[MAX_EXTENSIONS][XR_MAX_EXTENSION_NAME_SIZE];
    int n_extensions, no_system;
    Device devices[MAX_DEVICES];
    int n_devices;
    Cmd *cmds;
    int n_cmds;
    /* instance life */
    int instance_alive, instance_lost, session_alive, session_begun, session_lost, attached;
    int enabled_hand, enabled_htcx, enabled_headless, enabled_htc_xr;
    int64_t t0_ns; /* XrTime at xrBeginSession */
    int cursor;    /* next command to apply */
    char paths[MAX_PATHS][MAX_NAME];
    int n_paths;
    Action actions[MAX_ACTIONS];
    int n_actions, n_sets;
    Binding bindings[MAX_BINDINGS];
    int n_bindings;
    Space spaces[MAX_SPACES];
    int n_spaces;
    int hands[2];
    Channel channels[MAX_CHANNELS];
    int n_channels;
    XrEventDataBuffer events[MAX_EVENTS];
    int ev_head, ev_count;
    /* rendering */
    int enabled_gl, enabled_egl, graphics; /* graphics: the session has an EGL binding */
    XrEnvironmentBlendMode blend[MAX_BLEND];
    int n_blend;
    double display_hz;
    GLFns gl;
    unsigned readback_fbo;
    Swapchain swapchains[MAX_SWAPCHAINS];
    int n_swapchains;
    int64_t next_display_ns; /* XrTime of the next display refresh */
    int frame_waited, frame_begun;
    long frames_ended;
    long n_locates, n_syncs; /* xrLocateSpace / xrSyncActions calls on this instance */
} S;

/* Per instance (reset when an instance is created): sessions created on it, how many had a
 * graphics binding, and creations refused because one was already alive. Tests check that one
 * application holds one session. */
static long N_SESSIONS_CREATED, N_GRAPHICS_SESSIONS_CREATED, N_REFUSED;

/* ---- small helpers ---- */
static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static XrTime xr_now(void) { return now_ns() + TIME_OFFSET_NS; }

static XrQuaternionf q_mul(XrQuaternionf a, XrQuaternionf b) {
    XrQuaternionf r = {a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
                       a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
                       a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
                       a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z};
    return r;
}
static XrQuaternionf q_conj(XrQuaternionf q) { XrQuaternionf r = {-q.x, -q.y, -q.z, q.w}; return r; }
static XrVector3f q_rot(XrQuaternionf q, XrVector3f v) {
    XrQuaternionf p = {v.x, v.y, v.z, 0.f}, r = q_mul(q_mul(q, p), q_conj(q));
    XrVector3f o = {r.x, r.y, r.z};
    return o;
}
static XrPosef pose_mul(XrPosef a, XrPosef b) { /* a * b */
    XrPosef r;
    XrVector3f p = q_rot(a.orientation, b.position);
    r.orientation = q_mul(a.orientation, b.orientation);
    r.position.x = a.position.x + p.x;
    r.position.y = a.position.y + p.y;
    r.position.z = a.position.z + p.z;
    return r;
}
static XrPosef pose_inv(XrPosef a) {
    XrPosef r;
    r.orientation = q_conj(a.orientation);
    XrVector3f p = q_rot(r.orientation, a.position);
    r.position.x = -p.x; r.position.y = -p.y; r.position.z = -p.z;
    return r;
}
static XrPosef identity_pose(void) { XrPosef p = {{0, 0, 0, 1}, {0, 0, 0}}; return p; }

static XrPath intern(const char *s) {
    for (int i = 0; i < S.n_paths; i++)
        if (strcmp(S.paths[i], s) == 0) return (XrPath)(i + 1);
    if (S.n_paths >= MAX_PATHS) return XR_NULL_PATH;
    snprintf(S.paths[S.n_paths], MAX_NAME, "%s", s);
    return (XrPath)(++S.n_paths);
}
static const char *path_str(XrPath p) { return (p >= 1 && p <= (XrPath)S.n_paths) ? S.paths[p - 1] : ""; }

static Channel *channel(const char *name, int create) {
    for (int i = 0; i < S.n_channels; i++)
        if (strcmp(S.channels[i].name, name) == 0) return &S.channels[i];
    if (!create || S.n_channels >= MAX_CHANNELS) return NULL;
    Channel *c = &S.channels[S.n_channels++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, MAX_NAME, "%s", name);
    return c;
}

static void push_event(const void *ev, size_t size) {
    if (S.ev_count >= MAX_EVENTS) return;
    XrEventDataBuffer *slot = &S.events[(S.ev_head + S.ev_count++) % MAX_EVENTS];
    memset(slot, 0, sizeof *slot);
    memcpy(slot, ev, size);
}
static void push_state(XrSessionState state) {
    XrEventDataSessionStateChanged e = {.type = XR_TYPE_EVENT_DATA_SESSION_STATE_CHANGED};
    e.session = (XrSession)(uintptr_t)H(TAG_SESSION, 0);
    e.state = state;
    e.time = xr_now();
    push_event(&e, sizeof e);
}

/* ---- the script ---- */
static int read_floats(char *rest, float *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(rest, &end);
        if (end == rest) return 0;
        rest = end;
    }
    return 1;
}

static void load_script(void) {
    free(S.cmds);
    memset(&S, 0, sizeof S);
    S.loaded = 1;
    for (size_t i = 0; i < N_ALL_EXT; i++) snprintf(S.extensions[S.n_extensions++], XR_MAX_EXTENSION_NAME_SIZE, "%s", ALL_EXTENSIONS[i]);
    S.blend[0] = XR_ENVIRONMENT_BLEND_MODE_OPAQUE;
    S.n_blend = 1;
    S.display_hz = 90.0;
    S.cmds = calloc(MAX_CMDS, sizeof(Cmd));
    const char *path = getenv("PSI_XR_SCRIPT");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        if (path) fprintf(stderr, "scripted_runtime: cannot open PSI_XR_SCRIPT=%s\n", path);
        return;
    }
    char line[1024], word[64], name[MAX_NAME];
    double t = 0.0;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        int used = 0;
        if (sscanf(line, "%63s%n", word, &used) != 1) continue;
        char *rest = line + used;
        Cmd c;
        memset(&c, 0, sizeof c);
        c.t = t;
        c.kind = CMD_SET;
        if (strcmp(word, "extensions") == 0) {
            S.n_extensions = 0;
            while (S.n_extensions < MAX_EXTENSIONS && sscanf(rest, "%127s%n", name, &used) == 1) {
                snprintf(S.extensions[S.n_extensions++], XR_MAX_EXTENSION_NAME_SIZE, "%.127s", name);
                rest += used;
            }
            continue;
        } else if (strcmp(word, "blend_modes") == 0) {
            S.n_blend = 0;
            while (S.n_blend < MAX_BLEND && sscanf(rest, "%63s%n", name, &used) == 1) {
                rest += used;
                if (strcmp(name, "opaque") == 0) S.blend[S.n_blend++] = XR_ENVIRONMENT_BLEND_MODE_OPAQUE;
                else if (strcmp(name, "additive") == 0) S.blend[S.n_blend++] = XR_ENVIRONMENT_BLEND_MODE_ADDITIVE;
                else if (strcmp(name, "alpha_blend") == 0) S.blend[S.n_blend++] = XR_ENVIRONMENT_BLEND_MODE_ALPHA_BLEND;
                else fprintf(stderr, "scripted_runtime: unknown blend mode %s\n", name);
            }
            continue;
        } else if (strcmp(word, "display_hz") == 0) {
            double hz = atof(rest);
            if (hz >= 1.0 && hz <= 1000.0) S.display_hz = hz;
            continue;
        } else if (strcmp(word, "no_system") == 0) {
            S.no_system = 1;
            continue;
        } else if (strcmp(word, "device") == 0 && S.n_devices < MAX_DEVICES) {
            char top[MAX_NAME], profile[MAX_NAME];
            Device *d = &S.devices[S.n_devices];
            if (sscanf(rest, "%255s %255s %63s", top, profile, d->serial) >= 2) {
                d->top = intern(top);
                d->profile = intern(profile);
                S.n_devices++;
            }
            continue;
        } else if (strcmp(word, "at") == 0) {
            t = atof(rest);
            continue;
        } else if (strcmp(word, "event") == 0) {
            c.kind = CMD_EVENT;
            sscanf(rest, "%31s", c.event);
        } else if (strcmp(word, "hand") == 0) {
            char side[16];
            if (sscanf(rest, "%15s%n", side, &used) != 1) continue;
            snprintf(c.ch.name, MAX_NAME, "hand/%s", side);
            c.ch.kind = CH_HAND;
            float v[7];
            if (read_floats(rest + used, v, 7)) {
                c.ch.pose.position = (XrVector3f){v[0], v[1], v[2]};
                c.ch.pose.orientation = (XrQuaternionf){v[3], v[4], v[5], v[6]};
                c.ch.flags = 0xF;
            }
        } else {
            if (sscanf(rest, "%255s%n", c.ch.name, &used) != 1) continue;
            rest += used;
            float v[7];
            if (strcmp(word, "pose") == 0 && read_floats(rest, v, 7)) {
                c.ch.kind = CH_POSE;
                c.ch.pose.position = (XrVector3f){v[0], v[1], v[2]};
                c.ch.pose.orientation = (XrQuaternionf){v[3], v[4], v[5], v[6]};
                c.ch.flags = 0xF; /* orientation+position valid and tracked */
            } else if (strcmp(word, "inferred") == 0 || strcmp(word, "untracked") == 0) {
                c.ch.kind = CH_POSE;
                c.ch.flags = word[0] == 'i' ? 0x10000 : 0; /* marker: keep pose, drop tracked */
            } else if (strcmp(word, "value") == 0 && read_floats(rest, v, 1)) {
                c.ch.kind = CH_VALUE;
                c.ch.v[0] = v[0];
            } else if (strcmp(word, "vec2") == 0 && read_floats(rest, v, 2)) {
                c.ch.kind = CH_VEC2;
                c.ch.v[0] = v[0];
                c.ch.v[1] = v[1];
            } else {
                fprintf(stderr, "scripted_runtime: ignoring line: %s", line);
                continue;
            }
        }
        if (S.n_cmds < MAX_CMDS) S.cmds[S.n_cmds++] = c;
    }
    fclose(f);
}

/* Apply every script command due at XrTime `t`. */
static void advance(XrTime t) {
    if (!S.session_begun) return;
    double since = (double)(t - S.t0_ns) * 1e-9;
    while (S.cursor < S.n_cmds && S.cmds[S.cursor].t <= since) {
        Cmd *c = &S.cmds[S.cursor++];
        if (c->kind == CMD_EVENT) {
            if (strcmp(c->event, "session_loss") == 0) {
                S.session_lost = 1;
                push_state(XR_SESSION_STATE_LOSS_PENDING);
            } else if (strcmp(c->event, "instance_loss") == 0) {
                XrEventDataInstanceLossPending e = {.type = XR_TYPE_EVENT_DATA_INSTANCE_LOSS_PENDING};
                e.lossTime = t;
                push_event(&e, sizeof e);
                S.instance_lost = 1;
            } else if (strcmp(c->event, "exiting") == 0) {
                push_state(XR_SESSION_STATE_STOPPING);
            }
            continue;
        }
        Channel *ch = channel(c->ch.name, 1);
        if (!ch) continue;
        if (c->ch.kind == CH_POSE && c->ch.flags == 0x10000) {
            ch->kind = CH_POSE;
            ch->flags = XR_SPACE_LOCATION_ORIENTATION_VALID_BIT | XR_SPACE_LOCATION_POSITION_VALID_BIT;
        } else if (c->ch.kind == CH_POSE && c->ch.flags == 0 && ch->kind == CH_POSE) {
            ch->flags = 0; /* untracked: keep the last pose, drop the flags */
        } else {
            *ch = c->ch;
        }
    }
}

#define CHECK_INSTANCE()                                     \
    do {                                                     \
        if (!S.instance_alive) return XR_ERROR_HANDLE_INVALID; \
        if (S.instance_lost) return XR_ERROR_INSTANCE_LOST;  \
    } while (0)
#define CHECK_SESSION()                                      \
    do {                                                     \
        CHECK_INSTANCE();                                    \
        if (!S.session_alive) return XR_ERROR_HANDLE_INVALID; \
        if (S.session_lost) return XR_ERROR_SESSION_LOST;    \
    } while (0)

/* ---- instance ---- */
static XrResult enumerate_extensions(const char *layer, uint32_t cap, uint32_t *count, XrExtensionProperties *props) {
    LOCK();
    (void)layer;
    if (!S.instance_alive) load_script();
    *count = (uint32_t)S.n_extensions;
    if (cap == 0) return XR_SUCCESS;
    if (cap < (uint32_t)S.n_extensions) return XR_ERROR_SIZE_INSUFFICIENT;
    for (int i = 0; i < S.n_extensions; i++) {
        snprintf(props[i].extensionName, XR_MAX_EXTENSION_NAME_SIZE, "%s", S.extensions[i]);
        props[i].extensionVersion = 1;
    }
    return XR_SUCCESS;
}

static int offered(const char *ext) {
    for (int i = 0; i < S.n_extensions; i++)
        if (strcmp(S.extensions[i], ext) == 0) return 1;
    return 0;
}

static XrResult create_instance(const XrInstanceCreateInfo *info, XrInstance *out) {
    LOCK();
    if (S.instance_alive) {
        N_REFUSED++;
        return XR_ERROR_LIMIT_REACHED;
    }
    if (XR_VERSION_MAJOR(info->applicationInfo.apiVersion) != 1) return XR_ERROR_API_VERSION_UNSUPPORTED;
    load_script();
    for (uint32_t i = 0; i < info->enabledExtensionCount; i++) {
        const char *e = info->enabledExtensionNames[i];
        if (!offered(e)) return XR_ERROR_EXTENSION_NOT_PRESENT;
        if (strcmp(e, XR_EXT_HAND_TRACKING_EXTENSION_NAME) == 0) S.enabled_hand = 1;
        if (strcmp(e, XR_HTCX_VIVE_TRACKER_INTERACTION_EXTENSION_NAME) == 0) S.enabled_htcx = 1;
        if (strcmp(e, XR_MND_HEADLESS_EXTENSION_NAME) == 0) S.enabled_headless = 1;
        if (strcmp(e, HTC_XR_TRACKER_EXTENSION_NAME) == 0) S.enabled_htc_xr = 1;
        if (strcmp(e, OPENGL_ENABLE_EXTENSION_NAME) == 0) S.enabled_gl = 1;
        if (strcmp(e, EGL_ENABLE_EXTENSION_NAME) == 0) S.enabled_egl = 1;
    }
    S.instance_alive = 1;
    N_SESSIONS_CREATED = N_GRAPHICS_SESSIONS_CREATED = N_REFUSED = 0;
    *out = (XrInstance)(uintptr_t)H(TAG_INSTANCE, 0);
    return XR_SUCCESS;
}

static XrResult destroy_instance(XrInstance instance) {
    LOCK();
    (void)instance;
    free(S.cmds);
    memset(&S, 0, sizeof S);
    return XR_SUCCESS;
}

static XrResult get_instance_properties(XrInstance instance, XrInstanceProperties *props) {
    LOCK();
    (void)instance;
    props->runtimeVersion = XR_MAKE_VERSION(0, 1, 0);
    snprintf(props->runtimeName, XR_MAX_RUNTIME_NAME_SIZE, "psi-teleop scripted runtime");
    return XR_SUCCESS;
}

static XrResult poll_event(XrInstance instance, XrEventDataBuffer *out) {
    LOCK();
    (void)instance;
    if (!S.instance_alive) return XR_ERROR_HANDLE_INVALID;
    advance(xr_now());
    if (S.ev_count == 0) return XR_EVENT_UNAVAILABLE;
    memcpy(out, &S.events[S.ev_head], sizeof *out);
    S.ev_head = (S.ev_head + 1) % MAX_EVENTS;
    S.ev_count--;
    return XR_SUCCESS;
}

static XrResult result_to_string(XrInstance instance, XrResult value, char buffer[XR_MAX_RESULT_STRING_SIZE]) {
    LOCK();
    (void)instance;
    snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "XR_RESULT_%d", (int)value);
    return XR_SUCCESS;
}

static XrResult get_system(XrInstance instance, const XrSystemGetInfo *info, XrSystemId *out) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (info->formFactor != XR_FORM_FACTOR_HEAD_MOUNTED_DISPLAY || S.no_system) return XR_ERROR_FORM_FACTOR_UNAVAILABLE;
    *out = 1;
    return XR_SUCCESS;
}

static XrResult get_system_properties(XrInstance instance, XrSystemId id, XrSystemProperties *props) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    props->systemId = id;
    props->vendorId = 0x5054;
    snprintf(props->systemName, XR_MAX_SYSTEM_NAME_SIZE, "scripted headset");
    props->trackingProperties.orientationTracking = XR_TRUE;
    props->trackingProperties.positionTracking = XR_TRUE;
    for (XrBaseOutStructure *n = (XrBaseOutStructure *)props->next; n; n = n->next)
        if (n->type == XR_TYPE_SYSTEM_HAND_TRACKING_PROPERTIES_EXT)
            ((XrSystemHandTrackingPropertiesEXT *)n)->supportsHandTracking = XR_TRUE;
    return XR_SUCCESS;
}

static XrResult string_to_path(XrInstance instance, const char *s, XrPath *out) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (!s || s[0] != '/' || strlen(s) >= MAX_NAME) return XR_ERROR_PATH_FORMAT_INVALID;
    *out = intern(s);
    return *out ? XR_SUCCESS : XR_ERROR_PATH_COUNT_EXCEEDED;
}

static XrResult path_to_string(XrInstance instance, XrPath p, uint32_t cap, uint32_t *count, char *buf) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (p < 1 || p > (XrPath)S.n_paths) return XR_ERROR_PATH_INVALID;
    const char *s = path_str(p);
    *count = (uint32_t)strlen(s) + 1;
    if (cap == 0) return XR_SUCCESS;
    if (cap < *count) return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(buf, s, *count);
    return XR_SUCCESS;
}

static XrResult convert_timespec(XrInstance instance, const struct timespec *ts, XrTime *out) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    *out = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + TIME_OFFSET_NS;
    return XR_SUCCESS;
}

static XrResult convert_time(XrInstance instance, XrTime t, struct timespec *ts) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    int64_t ns = t - TIME_OFFSET_NS;
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
    return XR_SUCCESS;
}

/* ---- actions ---- */
static XrResult create_action_set(XrInstance instance, const XrActionSetCreateInfo *info, XrActionSet *out) {
    LOCK();
    (void)instance;
    (void)info;
    CHECK_INSTANCE();
    *out = (XrActionSet)(uintptr_t)H(TAG_SET, S.n_sets++);
    return XR_SUCCESS;
}
static XrResult destroy_noop(void *handle) { (void)handle; return XR_SUCCESS; }

static XrResult create_action(XrActionSet set, const XrActionCreateInfo *info, XrAction *out) {
    LOCK();
    (void)set;
    CHECK_INSTANCE();
    if (S.n_actions >= MAX_ACTIONS || info->countSubactionPaths > 8) return XR_ERROR_LIMIT_REACHED;
    Action *a = &S.actions[S.n_actions];
    snprintf(a->name, sizeof a->name, "%s", info->actionName);
    a->type = info->actionType;
    a->nsub = info->countSubactionPaths;
    for (uint32_t i = 0; i < a->nsub; i++) a->sub[i] = info->subactionPaths[i];
    a->alive = 1;
    *out = (XrAction)(uintptr_t)H(TAG_ACTION, S.n_actions++);
    return XR_SUCCESS;
}

static XrResult suggest_bindings(XrInstance instance, const XrInteractionProfileSuggestedBinding *sb) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (S.attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    const char *profile = path_str(sb->interactionProfile);
    if (strncmp(profile, "/interaction_profiles/", 22) != 0) return XR_ERROR_PATH_UNSUPPORTED;
    if (strstr(profile, "vive_tracker_htcx") && !S.enabled_htcx) return XR_ERROR_PATH_UNSUPPORTED;
    if (strstr(profile, "vive_xr_tracker") && !S.enabled_htc_xr) return XR_ERROR_PATH_UNSUPPORTED;
    for (uint32_t i = 0; i < sb->countSuggestedBindings && S.n_bindings < MAX_BINDINGS; i++) {
        Binding *b = &S.bindings[S.n_bindings++];
        b->profile = sb->interactionProfile;
        b->binding = sb->suggestedBindings[i].binding;
        b->action = HIDX(sb->suggestedBindings[i].action, TAG_ACTION);
    }
    return XR_SUCCESS;
}

/* The connected device whose top-level path prefixes `binding`, or NULL. */
static Device *device_of(const char *binding) {
    for (int i = 0; i < S.n_devices; i++) {
        const char *top = path_str(S.devices[i].top);
        size_t n = strlen(top);
        if (strncmp(binding, top, n) == 0 && binding[n] == '/') return &S.devices[i];
    }
    return NULL;
}

/* The channel an action reads for `sub` (XR_NULL_PATH: any), through the active profile's binding. */
static Channel *action_channel(int action, XrPath sub, int *active) {
    *active = 0;
    Channel *best = NULL;
    for (int i = 0; i < S.n_bindings; i++) {
        Binding *b = &S.bindings[i];
        if (b->action != action) continue;
        const char *bp = path_str(b->binding);
        Device *d = device_of(bp);
        if (!d || d->profile != b->profile) continue;
        if (sub != XR_NULL_PATH && d->top != sub) continue;
        *active = 1;
        Channel *c = channel(bp, 0);
        if (c && (!best || fabsf(c->v[0]) + fabsf(c->v[1]) > fabsf(best->v[0]) + fabsf(best->v[1]))) best = c;
    }
    return best;
}

static XrResult attach_action_sets(XrSession session, const XrSessionActionSetsAttachInfo *info) {
    LOCK();
    (void)session;
    (void)info;
    CHECK_SESSION();
    if (S.attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    S.attached = 1;
    XrEventDataInteractionProfileChanged e = {.type = XR_TYPE_EVENT_DATA_INTERACTION_PROFILE_CHANGED};
    e.session = session;
    push_event(&e, sizeof e);
    return XR_SUCCESS;
}

static XrResult current_profile(XrSession session, XrPath top, XrInteractionProfileState *state) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    if (!S.attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    state->interactionProfile = XR_NULL_PATH;
    for (int i = 0; i < S.n_devices; i++)
        if (S.devices[i].top == top) state->interactionProfile = S.devices[i].profile;
    return XR_SUCCESS;
}

static XrResult sync_actions(XrSession session, const XrActionsSyncInfo *info) {
    LOCK();
    (void)session;
    (void)info;
    CHECK_SESSION();
    if (!S.attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    S.n_syncs++;
    advance(xr_now());
    return XR_SUCCESS;
}

static int action_index(const XrActionStateGetInfo *info, XrActionType type) {
    int i = HIDX(info->action, TAG_ACTION);
    if (i < 0 || i >= S.n_actions || S.actions[i].type != type) return -1;
    return i;
}

static XrResult state_float(XrSession session, const XrActionStateGetInfo *info, XrActionStateFloat *st) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    int a = action_index(info, XR_ACTION_TYPE_FLOAT_INPUT), active;
    if (a < 0) return XR_ERROR_ACTION_TYPE_MISMATCH;
    Channel *c = action_channel(a, info->subactionPath, &active);
    st->currentState = c ? c->v[0] : 0.f;
    st->isActive = active;
    st->changedSinceLastSync = XR_FALSE;
    st->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult state_bool(XrSession session, const XrActionStateGetInfo *info, XrActionStateBoolean *st) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    int a = action_index(info, XR_ACTION_TYPE_BOOLEAN_INPUT), active;
    if (a < 0) return XR_ERROR_ACTION_TYPE_MISMATCH;
    Channel *c = action_channel(a, info->subactionPath, &active);
    st->currentState = (c && c->v[0] > 0.5f) ? XR_TRUE : XR_FALSE;
    st->isActive = active;
    st->changedSinceLastSync = XR_FALSE;
    st->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult state_vec2(XrSession session, const XrActionStateGetInfo *info, XrActionStateVector2f *st) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    int a = action_index(info, XR_ACTION_TYPE_VECTOR2F_INPUT), active;
    if (a < 0) return XR_ERROR_ACTION_TYPE_MISMATCH;
    Channel *c = action_channel(a, info->subactionPath, &active);
    st->currentState.x = c ? c->v[0] : 0.f;
    st->currentState.y = c ? c->v[1] : 0.f;
    st->isActive = active;
    st->changedSinceLastSync = XR_FALSE;
    st->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult state_pose(XrSession session, const XrActionStateGetInfo *info, XrActionStatePose *st) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    int a = action_index(info, XR_ACTION_TYPE_POSE_INPUT), active;
    if (a < 0) return XR_ERROR_ACTION_TYPE_MISMATCH;
    action_channel(a, info->subactionPath, &active);
    st->isActive = active;
    return XR_SUCCESS;
}

static XrResult enumerate_tracker_paths(XrInstance instance, uint32_t cap, uint32_t *count, XrViveTrackerPathsHTCX *out) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (!S.enabled_htcx) return XR_ERROR_FUNCTION_UNSUPPORTED;
    uint32_t n = 0;
    for (int i = 0; i < S.n_devices; i++) {
        Device *d = &S.devices[i];
        if (!d->serial[0]) continue;
        if (cap && n < cap) {
            char persistent[MAX_NAME];
            snprintf(persistent, sizeof persistent, "/devices/htc/vive_tracker%s", d->serial);
            out[n].persistentPath = intern(persistent);
            out[n].rolePath = strstr(path_str(d->top), "/role/") ? d->top : XR_NULL_PATH;
        }
        n++;
    }
    *count = n;
    if (cap && cap < n) return XR_ERROR_SIZE_INSUFFICIENT;
    return XR_SUCCESS;
}

/* ---- graphics: binding, swapchains, frame loop, readback ---- */
#define LOAD_GL(field, name)                                                      \
    do {                                                                          \
        S.gl.field = (void *)b->getProcAddress(name);                             \
        if (!S.gl.field) {                                                        \
            fprintf(stderr, "scripted_runtime: %s not found in the EGL context\n", name); \
            return XR_ERROR_GRAPHICS_DEVICE_INVALID;                              \
        }                                                                         \
    } while (0)

static XrResult bind_graphics(const BindingEGL *b) {
    if (b->type != XR_TYPE_GRAPHICS_BINDING_EGL_MNDX) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    if (!S.enabled_egl || !S.enabled_gl) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    if (!b->getProcAddress || !b->display || !b->context) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    LOAD_GL(GenTextures, "glGenTextures");
    LOAD_GL(DeleteTextures, "glDeleteTextures");
    LOAD_GL(BindTexture, "glBindTexture");
    LOAD_GL(TexImage2D, "glTexImage2D");
    LOAD_GL(TexParameteri, "glTexParameteri");
    LOAD_GL(GenFramebuffers, "glGenFramebuffers");
    LOAD_GL(DeleteFramebuffers, "glDeleteFramebuffers");
    LOAD_GL(BindFramebuffer, "glBindFramebuffer");
    LOAD_GL(FramebufferTexture2D, "glFramebufferTexture2D");
    LOAD_GL(CheckFramebufferStatus, "glCheckFramebufferStatus");
    LOAD_GL(ReadPixels, "glReadPixels");
    LOAD_GL(PixelStorei, "glPixelStorei");
    LOAD_GL(GetIntegerv, "glGetIntegerv");
    LOAD_GL(Finish, "glFinish");
    S.graphics = 1;
    S.n_swapchains = 0;
    S.readback_fbo = 0;
    S.frames_ended = 0;
    S.frame_waited = S.frame_begun = 0;
    S.next_display_ns = 0;
    return XR_SUCCESS;
}

static XrResult gl_requirements(XrInstance instance, XrSystemId system, GLRequirements *req) {
    LOCK();
    (void)instance;
    (void)system;
    CHECK_INSTANCE();
    if (!S.enabled_gl) return XR_ERROR_FUNCTION_UNSUPPORTED;
    req->minApiVersionSupported = XR_MAKE_VERSION(3, 0, 0);
    req->maxApiVersionSupported = XR_MAKE_VERSION(4, 6, 0);
    return XR_SUCCESS;
}

static XrResult enumerate_view_configs(XrInstance instance, XrSystemId system, uint32_t cap, uint32_t *count, XrViewConfigurationType *out) {
    LOCK();
    (void)instance;
    (void)system;
    CHECK_INSTANCE();
    *count = 1;
    if (cap == 0) return XR_SUCCESS;
    out[0] = XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO;
    return XR_SUCCESS;
}

static XrResult enumerate_blend_modes(XrInstance instance, XrSystemId system, XrViewConfigurationType type, uint32_t cap,
                                      uint32_t *count, XrEnvironmentBlendMode *out) {
    LOCK();
    (void)instance;
    (void)system;
    CHECK_INSTANCE();
    if (type != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    *count = (uint32_t)S.n_blend;
    if (cap == 0) return XR_SUCCESS;
    if (cap < (uint32_t)S.n_blend) return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(out, S.blend, sizeof(S.blend[0]) * (size_t)S.n_blend);
    return XR_SUCCESS;
}

static XrResult enumerate_swapchain_formats(XrSession session, uint32_t cap, uint32_t *count, int64_t *out) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    if (!S.graphics) return XR_ERROR_FUNCTION_UNSUPPORTED;
    static const int64_t formats[] = {GL_SRGB8_ALPHA8, GL_RGBA8};
    *count = 2;
    if (cap == 0) return XR_SUCCESS;
    if (cap < 2) return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(out, formats, sizeof formats);
    return XR_SUCCESS;
}

static Swapchain *swapchain_of(XrSwapchain h) {
    int i = HIDX(h, TAG_SWAPCHAIN);
    return (i >= 0 && i < S.n_swapchains && S.swapchains[i].alive) ? &S.swapchains[i] : NULL;
}

static XrResult create_swapchain(XrSession session, const XrSwapchainCreateInfo *info, XrSwapchain *out) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    if (!S.graphics) return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    if (info->format != GL_RGBA8 && info->format != GL_SRGB8_ALPHA8) return XR_ERROR_SWAPCHAIN_FORMAT_UNSUPPORTED;
    if (info->width < 1 || info->height < 1 || info->width > 8192 || info->height > 8192 || info->arraySize != 1 ||
        info->faceCount != 1 || info->mipCount != 1 || info->sampleCount != 1)
        return XR_ERROR_VALIDATION_FAILURE;
    if (S.n_swapchains >= MAX_SWAPCHAINS) return XR_ERROR_LIMIT_REACHED;
    Swapchain *sc = &S.swapchains[S.n_swapchains];
    memset(sc, 0, sizeof *sc);
    sc->alive = 1;
    sc->format = info->format;
    sc->width = info->width;
    sc->height = info->height;
    sc->acquired = sc->released = -1;
    int prev = 0;
    S.gl.GetIntegerv(GL_TEXTURE_BINDING_2D, &prev);
    S.gl.GenTextures(SWAPCHAIN_IMAGES, sc->tex);
    for (int i = 0; i < SWAPCHAIN_IMAGES; i++) {
        S.gl.BindTexture(GL_TEXTURE_2D, sc->tex[i]);
        S.gl.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        S.gl.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        S.gl.TexImage2D(GL_TEXTURE_2D, 0, (int)info->format, (int)info->width, (int)info->height, 0, GL_RGBA,
                        GL_UNSIGNED_BYTE, NULL);
    }
    S.gl.BindTexture(GL_TEXTURE_2D, (unsigned)prev);
    *out = (XrSwapchain)(uintptr_t)H(TAG_SWAPCHAIN, S.n_swapchains++);
    return XR_SUCCESS;
}

static XrResult destroy_swapchain(XrSwapchain h) {
    LOCK();
    Swapchain *sc = swapchain_of(h);
    if (!sc) return XR_ERROR_HANDLE_INVALID;
    if (S.graphics) S.gl.DeleteTextures(SWAPCHAIN_IMAGES, sc->tex);
    sc->alive = 0;
    return XR_SUCCESS;
}

static XrResult enumerate_swapchain_images(XrSwapchain h, uint32_t cap, uint32_t *count, XrSwapchainImageBaseHeader *images) {
    LOCK();
    Swapchain *sc = swapchain_of(h);
    if (!sc) return XR_ERROR_HANDLE_INVALID;
    *count = SWAPCHAIN_IMAGES;
    if (cap == 0) return XR_SUCCESS;
    if (cap < SWAPCHAIN_IMAGES) return XR_ERROR_SIZE_INSUFFICIENT;
    SwapchainImageGL *out = (SwapchainImageGL *)images;
    for (int i = 0; i < SWAPCHAIN_IMAGES; i++) {
        if (out[i].type != XR_TYPE_SWAPCHAIN_IMAGE_OPENGL_KHR) return XR_ERROR_VALIDATION_FAILURE;
        out[i].image = sc->tex[i];
    }
    return XR_SUCCESS;
}

static XrResult acquire_image(XrSwapchain h, const XrSwapchainImageAcquireInfo *info, uint32_t *index) {
    LOCK();
    (void)info;
    Swapchain *sc = swapchain_of(h);
    if (!sc) return XR_ERROR_HANDLE_INVALID;
    if (sc->acquired >= 0) return XR_ERROR_CALL_ORDER_INVALID; /* one image at a time, like most runtimes */
    sc->acquired = sc->next;
    sc->next = (sc->next + 1) % SWAPCHAIN_IMAGES;
    *index = (uint32_t)sc->acquired;
    return XR_SUCCESS;
}

static XrResult wait_image(XrSwapchain h, const XrSwapchainImageWaitInfo *info) {
    LOCK();
    (void)info;
    Swapchain *sc = swapchain_of(h);
    if (!sc) return XR_ERROR_HANDLE_INVALID;
    return sc->acquired >= 0 ? XR_SUCCESS : XR_ERROR_CALL_ORDER_INVALID;
}

static XrResult release_image(XrSwapchain h, const XrSwapchainImageReleaseInfo *info) {
    LOCK();
    (void)info;
    Swapchain *sc = swapchain_of(h);
    if (!sc) return XR_ERROR_HANDLE_INVALID;
    if (sc->acquired < 0) return XR_ERROR_CALL_ORDER_INVALID;
    sc->released = sc->acquired;
    sc->acquired = -1;
    return XR_SUCCESS;
}

static XrResult wait_frame(XrSession session, const XrFrameWaitInfo *info, XrFrameState *state) {
    LOCK();
    (void)session;
    (void)info;
    CHECK_SESSION();
    if (!S.session_begun) return XR_ERROR_SESSION_NOT_RUNNING;
    int64_t period = (int64_t)(1e9 / S.display_hz);
    int64_t now = xr_now();
    if (S.next_display_ns < now) S.next_display_ns = now + period; /* first frame, or the app fell behind */
    int64_t wake = S.next_display_ns - period; /* return one period before the display time */
    if (wake > now) { /* sleep without the lock: other threads keep calling the runtime */
        struct timespec ts = {(time_t)((wake - now) / 1000000000LL), (long)((wake - now) % 1000000000LL)};
        pthread_mutex_unlock(&LOCK_);
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&LOCK_);
        if (!S.session_alive || !S.session_begun) return XR_ERROR_SESSION_NOT_RUNNING;
    }
    state->predictedDisplayTime = S.next_display_ns;
    state->predictedDisplayPeriod = period;
    state->shouldRender = S.session_lost ? XR_FALSE : XR_TRUE;
    S.next_display_ns += period;
    S.frame_waited = 1;
    return XR_SUCCESS;
}

static XrResult begin_frame(XrSession session, const XrFrameBeginInfo *info) {
    LOCK();
    (void)session;
    (void)info;
    CHECK_SESSION();
    if (!S.session_begun) return XR_ERROR_SESSION_NOT_RUNNING;
    if (!S.frame_waited) return XR_ERROR_CALL_ORDER_INVALID;
    S.frame_waited = 0;
    XrResult r = S.frame_begun ? XR_FRAME_DISCARDED : XR_SUCCESS;
    S.frame_begun = 1;
    return r;
}

/* Read the released image of `sc` back (RGBA, bottom row first) and write it as a PPM, top row first. */
static void dump_image(const char *path, Swapchain *sc, XrRect2Di rect) {
    if (rect.extent.width <= 0 || rect.extent.height <= 0 || rect.offset.x < 0 || rect.offset.y < 0 ||
        (uint32_t)(rect.offset.x + rect.extent.width) > sc->width || (uint32_t)(rect.offset.y + rect.extent.height) > sc->height)
        return;
    int w = rect.extent.width, h = rect.extent.height;
    unsigned char *rgba = malloc((size_t)w * (size_t)h * 4);
    if (!rgba) return;
    int prev = 0;
    S.gl.GetIntegerv(GL_READ_FRAMEBUFFER_BINDING, &prev);
    if (!S.readback_fbo) S.gl.GenFramebuffers(1, &S.readback_fbo);
    S.gl.BindFramebuffer(GL_READ_FRAMEBUFFER, S.readback_fbo);
    S.gl.FramebufferTexture2D(GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, sc->tex[sc->released], 0);
    int ok = S.gl.CheckFramebufferStatus(GL_READ_FRAMEBUFFER) == GL_FRAMEBUFFER_COMPLETE;
    if (ok) {
        S.gl.PixelStorei(GL_PACK_ALIGNMENT, 1);
        S.gl.ReadPixels(rect.offset.x, rect.offset.y, w, h, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
    }
    S.gl.BindFramebuffer(GL_READ_FRAMEBUFFER, (unsigned)prev);
    if (ok) {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "wb");
        if (f) {
            fprintf(f, "P6\n%d %d\n255\n", w, h);
            unsigned char *row = malloc((size_t)w * 3);
            for (int y = h - 1; row && y >= 0; y--) { /* GL rows are bottom first */
                for (int x = 0; x < w; x++) memcpy(row + 3 * x, rgba + 4 * ((size_t)y * (size_t)w + (size_t)x), 3);
                fwrite(row, 3, (size_t)w, f);
            }
            free(row);
            fclose(f);
            rename(tmp, path);
        }
    }
    free(rgba);
}

static XrResult end_frame(XrSession session, const XrFrameEndInfo *info) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    if (!S.session_begun) return XR_ERROR_SESSION_NOT_RUNNING;
    if (!S.frame_begun) return XR_ERROR_CALL_ORDER_INVALID;
    int blend_ok = 0;
    for (int i = 0; i < S.n_blend; i++) blend_ok |= S.blend[i] == info->environmentBlendMode;
    if (!blend_ok) return XR_ERROR_ENVIRONMENT_BLEND_MODE_UNSUPPORTED;
    const XrCompositionLayerQuad *quad = NULL;
    Swapchain *quad_sc = NULL;
    for (uint32_t i = 0; i < info->layerCount; i++) {
        const XrCompositionLayerBaseHeader *l = info->layers[i];
        if (!l) return XR_ERROR_LAYER_INVALID;
        if (l->type == XR_TYPE_COMPOSITION_LAYER_QUAD) {
            const XrCompositionLayerQuad *q = (const XrCompositionLayerQuad *)l;
            Swapchain *sc = swapchain_of(q->subImage.swapchain);
            if (!sc || sc->released < 0) return XR_ERROR_LAYER_INVALID; /* never released: nothing to show */
            if (!quad) { quad = q; quad_sc = sc; }
        } else if (l->type != XR_TYPE_COMPOSITION_LAYER_PROJECTION) {
            return XR_ERROR_LAYER_INVALID;
        }
    }
    S.frame_begun = 0;
    S.frames_ended++;
    const char *path = getenv("PSI_XR_FRAME_DUMP");
    if (!path || !*path) return XR_SUCCESS;
    if (quad) dump_image(path, quad_sc, quad->subImage.imageRect);
    char meta[1100], tmp[1110];
    snprintf(meta, sizeof meta, "%s.txt", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", meta);
    FILE *f = fopen(tmp, "w");
    if (!f) return XR_SUCCESS;
    fprintf(f, "frame %ld\nblend %d\nlayers %u\n", S.frames_ended, (int)info->environmentBlendMode, info->layerCount);
    if (quad) {
        int i = HIDX(quad->space, TAG_SPACE);
        int ref = (i >= 0 && i < S.n_spaces && !S.spaces[i].is_action) ? (int)S.spaces[i].ref : 0;
        XrPosef p = quad->pose;
        fprintf(f, "quad %d %g %g %g %g %g %g %g %g %g\n", ref, p.position.x, p.position.y, p.position.z,
                p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w, quad->size.width, quad->size.height);
    }
    fprintf(f, "display_time %lld\n", (long long)info->displayTime);
    fprintf(f, "sessions_created %ld\ngraphics_sessions_created %ld\nrefused_creates %ld\n", N_SESSIONS_CREATED,
            N_GRAPHICS_SESSIONS_CREATED, N_REFUSED);
    fprintf(f, "locates %ld\nsyncs %ld\n", S.n_locates, S.n_syncs);
    fclose(f);
    rename(tmp, meta);
    return XR_SUCCESS;
}

/* ---- session ---- */
static XrResult create_session(XrInstance instance, const XrSessionCreateInfo *info, XrSession *out) {
    LOCK();
    (void)instance;
    CHECK_INSTANCE();
    if (S.session_alive) {
        N_REFUSED++;
        return XR_ERROR_LIMIT_REACHED;
    }
    if (info->next != NULL) {
        XrResult r = bind_graphics((const BindingEGL *)info->next);
        if (r != XR_SUCCESS) return r;
    } else if (!S.enabled_headless) {
        return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    }
    S.session_alive = 1;
    N_SESSIONS_CREATED++;
    if (S.graphics) N_GRAPHICS_SESSIONS_CREATED++;
    push_state(XR_SESSION_STATE_IDLE);
    push_state(XR_SESSION_STATE_READY);
    *out = (XrSession)(uintptr_t)H(TAG_SESSION, 0);
    return XR_SUCCESS;
}

static XrResult destroy_session(XrSession session) {
    LOCK();
    (void)session;
    S.graphics = 0; /* the application's context may be gone: GL objects die with it */
    S.n_swapchains = 0;
    S.readback_fbo = 0;
    S.session_alive = S.session_begun = S.session_lost = S.attached = 0;
    S.n_spaces = 0;
    return XR_SUCCESS;
}

static XrResult begin_session(XrSession session, const XrSessionBeginInfo *info) {
    LOCK();
    (void)session;
    (void)info;
    CHECK_SESSION();
    if (S.session_begun) return XR_ERROR_SESSION_RUNNING;
    S.session_begun = 1;
    S.t0_ns = xr_now();
    S.cursor = 0;
    advance(S.t0_ns);
    push_state(XR_SESSION_STATE_SYNCHRONIZED);
    push_state(XR_SESSION_STATE_VISIBLE);
    push_state(XR_SESSION_STATE_FOCUSED);
    return XR_SUCCESS;
}

static XrResult end_session(XrSession session) {
    LOCK();
    (void)session;
    if (!S.session_alive) return XR_ERROR_HANDLE_INVALID;
    S.session_begun = 0;
    push_state(XR_SESSION_STATE_IDLE);
    push_state(XR_SESSION_STATE_EXITING);
    return XR_SUCCESS;
}

static XrResult request_exit(XrSession session) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    push_state(XR_SESSION_STATE_STOPPING);
    return XR_SUCCESS;
}

static XrResult enumerate_ref_spaces(XrSession session, uint32_t cap, uint32_t *count, XrReferenceSpaceType *out) {
    LOCK();
    (void)session;
    static const XrReferenceSpaceType types[] = {XR_REFERENCE_SPACE_TYPE_VIEW, XR_REFERENCE_SPACE_TYPE_LOCAL, XR_REFERENCE_SPACE_TYPE_STAGE};
    *count = 3;
    if (cap == 0) return XR_SUCCESS;
    if (cap < 3) return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(out, types, sizeof types);
    return XR_SUCCESS;
}

static XrResult new_space(Space sp, XrSpace *out) {
    if (S.n_spaces >= MAX_SPACES) return XR_ERROR_LIMIT_REACHED;
    sp.alive = 1;
    S.spaces[S.n_spaces] = sp;
    *out = (XrSpace)(uintptr_t)H(TAG_SPACE, S.n_spaces++);
    return XR_SUCCESS;
}

static XrResult create_ref_space(XrSession session, const XrReferenceSpaceCreateInfo *info, XrSpace *out) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    Space sp = {0};
    sp.ref = info->referenceSpaceType;
    sp.offset = info->poseInReferenceSpace;
    return new_space(sp, out);
}

static XrResult create_action_space(XrSession session, const XrActionSpaceCreateInfo *info, XrSpace *out) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    int a = HIDX(info->action, TAG_ACTION);
    if (a < 0 || a >= S.n_actions || S.actions[a].type != XR_ACTION_TYPE_POSE_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    Space sp = {0};
    sp.is_action = 1;
    sp.action = a;
    sp.sub = info->subactionPath;
    sp.offset = info->poseInActionSpace;
    return new_space(sp, out);
}

static XrResult destroy_space(XrSpace space) {
    LOCK();
    int i = HIDX(space, TAG_SPACE);
    if (i >= 0 && i < S.n_spaces) S.spaces[i].alive = 0;
    return XR_SUCCESS;
}

/* T_stage_space and its location flags (the stage frame is the script's frame; LOCAL == STAGE). */
static XrSpaceLocationFlags space_in_stage(XrSpace space, XrPosef *out) {
    int i = HIDX(space, TAG_SPACE);
    if (i < 0 || i >= S.n_spaces || !S.spaces[i].alive) return 0;
    Space *sp = &S.spaces[i];
    XrPosef base = identity_pose();
    XrSpaceLocationFlags flags = 0xF;
    if (sp->is_action) {
        int active;
        Channel *c = action_channel(sp->action, sp->sub, &active);
        if (!active || !c || c->kind != CH_POSE) return 0;
        base = c->pose;
        flags = c->flags;
    } else if (sp->ref == XR_REFERENCE_SPACE_TYPE_VIEW) {
        Channel *c = channel("/user/head", 0);
        if (!c) return 0;
        base = c->pose;
        flags = c->flags;
    }
    *out = pose_mul(base, sp->offset);
    return flags;
}

static XrResult locate_space(XrSpace space, XrSpace base, XrTime time, XrSpaceLocation *loc) {
    LOCK();
    CHECK_SESSION();
    S.n_locates++;
    advance(time);
    XrPosef T_s = identity_pose(), T_b = identity_pose();
    XrSpaceLocationFlags fs = space_in_stage(space, &T_s), fb = space_in_stage(base, &T_b);
    loc->locationFlags = fs & fb;
    loc->pose = loc->locationFlags ? pose_mul(pose_inv(T_b), T_s) : identity_pose();
    return XR_SUCCESS;
}

/* ---- hand tracking ---- */
static XrResult create_hand_tracker(XrSession session, const XrHandTrackerCreateInfoEXT *info, XrHandTrackerEXT *out) {
    LOCK();
    (void)session;
    CHECK_SESSION();
    if (!S.enabled_hand) return XR_ERROR_FUNCTION_UNSUPPORTED;
    int side = info->hand == XR_HAND_LEFT_EXT ? 0 : 1;
    S.hands[side] = 1;
    *out = (XrHandTrackerEXT)(uintptr_t)H(TAG_HAND, side);
    return XR_SUCCESS;
}

static XrResult locate_hand_joints(XrHandTrackerEXT tracker, const XrHandJointsLocateInfoEXT *info, XrHandJointLocationsEXT *locs) {
    LOCK();
    CHECK_SESSION();
    int side = HIDX(tracker, TAG_HAND);
    if (side < 0 || side > 1 || !S.hands[side]) return XR_ERROR_HANDLE_INVALID;
    if (locs->jointCount != N_JOINTS || !locs->jointLocations) return XR_ERROR_VALIDATION_FAILURE;
    advance(info->time);
    Channel *c = channel(side ? "hand/right" : "hand/left", 0);
    XrPosef T_b = identity_pose();
    XrSpaceLocationFlags fb = space_in_stage(info->baseSpace, &T_b);
    locs->isActive = (c && c->flags && fb) ? XR_TRUE : XR_FALSE;
    XrPosef T_b_inv = pose_inv(T_b);
    for (int j = 0; j < N_JOINTS; j++) {
        XrHandJointLocationEXT *jl = &locs->jointLocations[j];
        if (!locs->isActive) {
            jl->locationFlags = 0;
            jl->pose = identity_pose();
            jl->radius = 0.f;
            continue;
        }
        XrPosef offset = {{0, 0, 0, 1}, {0.002f * j, 0.001f * (j % 5), -0.01f * j}};
        jl->pose = pose_mul(T_b_inv, pose_mul(c->pose, offset));
        jl->locationFlags = 0xF;
        jl->radius = 0.004f + 0.0005f * j;
    }
    return XR_SUCCESS;
}

/* ---- dispatch ---- */
typedef struct { const char *name; PFN_xrVoidFunction fn; int needs_instance; } Entry;
#define E(name, fn, inst) {name, (PFN_xrVoidFunction)(fn), inst}

static XrResult get_proc_addr(XrInstance instance, const char *name, PFN_xrVoidFunction *fn);

static const Entry ENTRIES[] = {
    E("xrGetInstanceProcAddr", get_proc_addr, 0),
    E("xrEnumerateInstanceExtensionProperties", enumerate_extensions, 0),
    E("xrCreateInstance", create_instance, 0),
    E("xrDestroyInstance", destroy_instance, 1),
    E("xrGetInstanceProperties", get_instance_properties, 1),
    E("xrPollEvent", poll_event, 1),
    E("xrResultToString", result_to_string, 1),
    E("xrGetSystem", get_system, 1),
    E("xrGetSystemProperties", get_system_properties, 1),
    E("xrStringToPath", string_to_path, 1),
    E("xrPathToString", path_to_string, 1),
    E("xrCreateActionSet", create_action_set, 1),
    E("xrDestroyActionSet", destroy_noop, 1),
    E("xrCreateAction", create_action, 1),
    E("xrDestroyAction", destroy_noop, 1),
    E("xrSuggestInteractionProfileBindings", suggest_bindings, 1),
    E("xrAttachSessionActionSets", attach_action_sets, 1),
    E("xrGetCurrentInteractionProfile", current_profile, 1),
    E("xrSyncActions", sync_actions, 1),
    E("xrGetActionStateFloat", state_float, 1),
    E("xrGetActionStateBoolean", state_bool, 1),
    E("xrGetActionStateVector2f", state_vec2, 1),
    E("xrGetActionStatePose", state_pose, 1),
    E("xrCreateSession", create_session, 1),
    E("xrDestroySession", destroy_session, 1),
    E("xrBeginSession", begin_session, 1),
    E("xrEndSession", end_session, 1),
    E("xrRequestExitSession", request_exit, 1),
    E("xrEnumerateReferenceSpaces", enumerate_ref_spaces, 1),
    E("xrCreateReferenceSpace", create_ref_space, 1),
    E("xrCreateActionSpace", create_action_space, 1),
    E("xrDestroySpace", destroy_space, 1),
    E("xrLocateSpace", locate_space, 1),
    E("xrConvertTimespecTimeToTimeKHR", convert_timespec, 1),
    E("xrConvertTimeToTimespecTimeKHR", convert_time, 1),
    E("xrCreateHandTrackerEXT", create_hand_tracker, 1),
    E("xrDestroyHandTrackerEXT", destroy_noop, 1),
    E("xrLocateHandJointsEXT", locate_hand_joints, 1),
    E("xrEnumerateViveTrackerPathsHTCX", enumerate_tracker_paths, 1),
    E("xrGetOpenGLGraphicsRequirementsKHR", gl_requirements, 1),
    E("xrEnumerateViewConfigurations", enumerate_view_configs, 1),
    E("xrEnumerateEnvironmentBlendModes", enumerate_blend_modes, 1),
    E("xrEnumerateSwapchainFormats", enumerate_swapchain_formats, 1),
    E("xrCreateSwapchain", create_swapchain, 1),
    E("xrDestroySwapchain", destroy_swapchain, 1),
    E("xrEnumerateSwapchainImages", enumerate_swapchain_images, 1),
    E("xrAcquireSwapchainImage", acquire_image, 1),
    E("xrWaitSwapchainImage", wait_image, 1),
    E("xrReleaseSwapchainImage", release_image, 1),
    E("xrWaitFrame", wait_frame, 1),
    E("xrBeginFrame", begin_frame, 1),
    E("xrEndFrame", end_frame, 1),
};

static XrResult get_proc_addr(XrInstance instance, const char *name, PFN_xrVoidFunction *fn) {
    for (size_t i = 0; i < sizeof ENTRIES / sizeof ENTRIES[0]; i++) {
        if (strcmp(ENTRIES[i].name, name) != 0) continue;
        if (ENTRIES[i].needs_instance && instance == XR_NULL_HANDLE) break;
        *fn = ENTRIES[i].fn;
        return XR_SUCCESS;
    }
    *fn = NULL;
    return instance == XR_NULL_HANDLE && strcmp(name, "xrEnumerateApiLayerProperties") != 0 ? XR_ERROR_HANDLE_INVALID
                                                                                             : XR_ERROR_FUNCTION_UNSUPPORTED;
}

EXPORT XrResult xrNegotiateLoaderRuntimeInterface(const XrNegotiateLoaderInfo *loader, XrNegotiateRuntimeRequest *request) {
    if (!loader || !request || loader->structType != XR_LOADER_INTERFACE_STRUCT_LOADER_INFO ||
        request->structType != XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST || loader->minInterfaceVersion > 1 ||
        loader->maxInterfaceVersion < 1)
        return XR_ERROR_INITIALIZATION_FAILED;
    request->runtimeInterfaceVersion = 1;
    request->runtimeApiVersion = XR_MAKE_VERSION(1, 0, 0);
    request->getInstanceProcAddr = get_proc_addr;
    return XR_SUCCESS;
}
