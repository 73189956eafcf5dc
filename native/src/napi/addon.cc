// The N-API surface of the data plane: a thin, validated wrapper over struct xm_dp.
//
// Rules kept here: no JS runs per request (workers never call into JS except through one
// threadsafe function for rare events, drained in batches); every data plane is tracked
// in per-environment instance data whose cleanup hook stops and joins the workers, so an
// environment that forgets close() still exits; no data-plane memory is exposed to JS.
#include <napi.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "bpf/loader.h"
#include "server/dp.h"
#include "core/event.h"
#include "stats/hist.h"
#include "stats/stats.h"
#include "core/uring.h"
#include "server/watchdog.h"
}

namespace {

class DataPlane;

struct AddonData {
	std::set<DataPlane *> live;
	Napi::FunctionReference ctor;
};

class DataPlane : public Napi::ObjectWrap<DataPlane> {
public:
	static Napi::Function Init(Napi::Env env)
	{
		return DefineClass(env, "DataPlane",
				   {
					   InstanceMethod("apply", &DataPlane::Apply),
					   InstanceMethod("info", &DataPlane::Info),
					   InstanceMethod("stats", &DataPlane::Stats),
					   InstanceMethod("setHostHealth", &DataPlane::SetHostHealth),
					   InstanceMethod("onEvent", &DataPlane::OnEvent),
					   InstanceMethod("close", &DataPlane::Close),
					   InstanceMethod("drain", &DataPlane::Drain),
					   InstanceMethod("statsOverflow", &DataPlane::StatsOverflow),
					   InstanceMethod("setOverload", &DataPlane::SetOverload),
					   InstanceMethod("shed", &DataPlane::Shed),
				   });
	}

	DataPlane(const Napi::CallbackInfo &info) : Napi::ObjectWrap<DataPlane>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 1 || !info[0].IsObject()) {
			Napi::TypeError::New(env, "DataPlane(options): options object required").ThrowAsJavaScriptException();
			return;
		}
		Napi::Object o = info[0].As<Napi::Object>();
		xm_dp_opts opts = {};
		Napi::Value w = o.Get("workers");
		if (!w.IsNumber() || w.As<Napi::Number>().Int32Value() < 1 || w.As<Napi::Number>().Int32Value() > 256) {
			Napi::TypeError::New(env, "options.workers: integer 1..256 required").ThrowAsJavaScriptException();
			return;
		}
		opts.nworkers = w.As<Napi::Number>().Uint32Value();
		std::string path;
		Napi::Value sp = o.Get("statsPath");
		if (sp.IsString()) {
			path = sp.As<Napi::String>().Utf8Value();
			opts.stats_path = path.c_str();
		} else if (!sp.IsUndefined() && !sp.IsNull()) {
			Napi::TypeError::New(env, "options.statsPath: string expected").ThrowAsJavaScriptException();
			return;
		}
		Napi::Value cap = o.Get("statsCapacity");
		if (cap.IsNumber())
			opts.stats_capacity = (size_t)cap.As<Napi::Number>().Int64Value();
		Napi::Value be = o.Get("ioBackend");
		if (be.IsString()) {
			int b = xm_io_backend_parse(be.As<Napi::String>().Utf8Value().c_str());
			if (b < 0) {
				Napi::TypeError::New(env, "options.ioBackend: epoll, io_uring or auto expected").ThrowAsJavaScriptException();
				return;
			}
			opts.io_backend = b + 1;
		} else if (!be.IsUndefined() && !be.IsNull()) {
			Napi::TypeError::New(env, "options.ioBackend: string expected").ThrowAsJavaScriptException();
			return;
		}

		// Events: a threadsafe function, unref'd so it never keeps the process alive.
		tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
						      "xmesh-events", 0, 1);
		tsfn_.Unref(env);
		tsfn_live_ = true;
		opts.notify = &DataPlane::NotifyFromWorker;
		opts.notify_ctx = this;

		int rc = xm_dp_new(&dp_, &opts);
		if (rc < 0) {
			dp_ = nullptr;
			ReleaseTsfn();
			std::string why = strerror(-rc);
			if (opts.io_backend == XM_IO_URING + 1)
				why = "io_uring backend unavailable: " + why + " (use --io-backend auto or epoll)";
			Napi::Error::New(env, std::string("data plane start failed: ") + why).ThrowAsJavaScriptException();
			return;
		}
		data_ = env.GetInstanceData<AddonData>();
		data_->live.insert(this);
	}

	~DataPlane() override { Shutdown(); }

	// Stop workers and free everything, synchronously. Used by close() (off the JS
	// thread), the destructor and the environment cleanup hook.
	void Shutdown()
	{
		if (data_) {
			data_->live.erase(this);
			data_ = nullptr;
		}
		if (dp_) {
			xm_events_set_notify(dp_->events, nullptr, nullptr);
			xm_dp_free(dp_);
			dp_ = nullptr;
		}
		ReleaseTsfn();
	}

private:
	xm_dp *dp_ = nullptr;
	AddonData *data_ = nullptr;
	Napi::ThreadSafeFunction tsfn_;
	bool tsfn_live_ = false;
	Napi::FunctionReference onEvent_;
	bool busy_ = false;

	void ReleaseTsfn()
	{
		if (tsfn_live_) {
			tsfn_.Release();
			tsfn_live_ = false;
		}
	}

	static void NotifyFromWorker(void *ctx)
	{
		DataPlane *self = static_cast<DataPlane *>(ctx);
		// One call per empty->non-empty transition; the JS side drains everything queued.
		self->tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function) {
			// The object may have been closed (and collected) since the call was queued.
			AddonData *d = env.GetInstanceData<AddonData>();
			if (d && d->live.count(self))
				self->DrainEvents(env);
		});
	}

	// Events from the workers: a retired table let go is freed here (the control side's
	// job, without waiting for the next swap); the rest go to JS.
	void DrainEvents(Napi::Env env)
	{
		if (!dp_)
			return;
		xm_event evs[64];
		unsigned n;
		Napi::HandleScope scope(env);
		while ((n = xm_events_drain(dp_->events, evs, 64)) > 0) {
			Napi::Array arr = Napi::Array::New(env, 0);
			uint32_t k = 0;
			bool reclaim = false;
			for (unsigned i = 0; i < n; i++) {
				if (evs[i].kind == XM_EV_TABLE_RELEASED) {
					reclaim = true;
					continue;
				}
				static const char *kinds[] = {"log", "listener_error", "host_ejected", "host_unejected"};
				Napi::Object e = Napi::Object::New(env);
				e.Set("kind", kinds[evs[i].kind < 4 ? evs[i].kind : 0]);
				e.Set("subject", evs[i].subject);
				e.Set("detail", evs[i].detail);
				arr.Set(k++, e);
			}
			if (reclaim)
				xm_dp_try_reclaim(dp_); // an apply in progress reclaims at its end anyway
			if (k && !onEvent_.IsEmpty())
				onEvent_.Call({arr});
		}
	}

	bool CheckOpen(Napi::Env env)
	{
		if (!dp_) {
			Napi::Error::New(env, "data plane is closed").ThrowAsJavaScriptException();
			return false;
		}
		return true;
	}

	class ApplyWorker : public Napi::AsyncWorker {
	public:
		ApplyWorker(Napi::Env env, DataPlane *dp, Napi::Buffer<uint8_t> buf)
			: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dp_(dp),
			  bytes_(buf.Data(), buf.Data() + buf.Length())
		{
			dp_->Ref();
		}
		~ApplyWorker() override { dp_->Unref(); }
		Napi::Promise Promise() { return deferred_.Promise(); }
		void Execute() override
		{
			char err[512];
			if (!dp_->dp_) {
				SetError("data plane is closed");
				return;
			}
			int rc = xm_dp_apply(dp_->dp_, bytes_.data(), bytes_.size(), err, sizeof(err));
			if (rc < 0)
				SetError(err);
		}
		void OnOK() override
		{
			dp_->busy_ = false;
			deferred_.Resolve(dp_->InfoObject(Env()));
		}
		void OnError(const Napi::Error &e) override
		{
			dp_->busy_ = false;
			deferred_.Reject(e.Value());
		}

	private:
		Napi::Promise::Deferred deferred_;
		DataPlane *dp_;
		std::vector<uint8_t> bytes_;
	};

	// drain(listeners: string[] | undefined, graceful: boolean): off the JS thread (it waits
	// for every worker). undefined: every listener.
	class DrainWorker : public Napi::AsyncWorker {
	public:
		DrainWorker(Napi::Env env, DataPlane *dp, std::vector<std::string> names, bool all, bool graceful)
			: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dp_(dp), names_(std::move(names)),
			  all_(all), graceful_(graceful)
		{
			dp_->Ref();
		}
		~DrainWorker() override { dp_->Unref(); }
		Napi::Promise Promise() { return deferred_.Promise(); }
		void Execute() override
		{
			if (!dp_->dp_) {
				SetError("data plane is closed");
				return;
			}
			std::vector<const char *> p;
			for (auto &n : names_)
				p.push_back(n.c_str());
			if (!all_ && p.empty())
				return; /* an empty list names no listener */
			drained_ = xm_dp_drain(dp_->dp_, p.empty() ? nullptr : p.data(), (unsigned)p.size(), graceful_);
		}
		void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), drained_)); }
		void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

	private:
		Napi::Promise::Deferred deferred_;
		DataPlane *dp_;
		std::vector<std::string> names_;
		bool all_, graceful_;
		int drained_ = 0;
	};

	Napi::Value Drain(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		std::vector<std::string> names;
		bool all = info.Length() == 0 || info[0].IsUndefined();
		if (info.Length() < 2 || !info[1].IsBoolean()) {
			Napi::TypeError::New(env, "drain(listeners: string[] | undefined, graceful: boolean)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (!all) {
			if (!info[0].IsArray()) {
				Napi::TypeError::New(env, "drain(listeners: string[] | undefined, graceful: boolean)").ThrowAsJavaScriptException();
				return env.Undefined();
			}
			Napi::Array a = info[0].As<Napi::Array>();
			for (uint32_t i = 0; i < a.Length(); i++) {
				Napi::Value v = a.Get(i);
				if (!v.IsString()) {
					Napi::TypeError::New(env, "drain(listeners?: string[]): names are strings").ThrowAsJavaScriptException();
					return env.Undefined();
				}
				names.push_back(v.As<Napi::String>().Utf8Value());
			}
		}
		auto *w = new DrainWorker(env, this, std::move(names), all, info[1].As<Napi::Boolean>().Value());
		w->Queue();
		return w->Promise();
	}

	class CloseWorker : public Napi::AsyncWorker {
	public:
		CloseWorker(Napi::Env env, DataPlane *dp)
			: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dp_(dp), raw_(dp->dp_)
		{
			dp_->Ref();
			// Detach now: JS sees a closed data plane at once; the join happens off-thread.
			if (raw_)
				xm_events_set_notify(raw_->events, nullptr, nullptr);
			dp_->dp_ = nullptr;
			if (dp_->data_) {
				dp_->data_->live.erase(dp_);
				dp_->data_ = nullptr;
			}
		}
		~CloseWorker() override { dp_->Unref(); }
		Napi::Promise Promise() { return deferred_.Promise(); }
		void Execute() override
		{
			if (raw_)
				xm_dp_free(raw_);
		}
		void OnOK() override
		{
			dp_->ReleaseTsfn();
			deferred_.Resolve(Env().Undefined());
		}

	private:
		Napi::Promise::Deferred deferred_;
		DataPlane *dp_;
		xm_dp *raw_;
	};

	Napi::Value Apply(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsBuffer()) {
			Napi::TypeError::New(env, "apply(snapshot): Buffer/Uint8Array with an encoded Snapshot required")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (busy_) {
			Napi::Error::New(env, "apply: another apply is in progress").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		busy_ = true;
		auto *w = new ApplyWorker(env, this, info[0].As<Napi::Buffer<uint8_t>>());
		Napi::Promise p = w->Promise();
		w->Queue();
		return p;
	}

	Napi::Object InfoObject(Napi::Env env)
	{
		Napi::Object o = Napi::Object::New(env);
		Napi::Array ls = Napi::Array::New(env);
		uint64_t version = 0;
		if (dp_) {
			struct Ctx {
				Napi::Env env;
				Napi::Array arr;
				uint32_t n;
			} ctx{env, ls, 0};
			version = xm_dp_listeners(
				dp_,
				[](void *c, const xm_dp_listener_info *li) {
					Ctx *x = static_cast<Ctx *>(c);
					Napi::Object l = Napi::Object::New(x->env);
					l.Set("name", li->name);
					std::string a = li->address;
					// address without the port, as configured
					size_t colon = a.rfind(':');
					std::string host = colon == std::string::npos ? a : a.substr(0, colon);
					if (host.size() > 1 && host.front() == '[')
						host = host.substr(1, host.size() - 2);
					l.Set("address", host);
					l.Set("port", li->port);
					l.Set("fd", li->fd);
					l.Set("drained", li->drained != 0);
					l.Set("connections", li->active ? (double)__atomic_load_n(li->active, __ATOMIC_RELAXED) : 0.0);
					x->arr.Set(x->n++, l);
				},
				&ctx);
			o.Set("workers", dp_->nworkers);
			o.Set("statsPath", xm_stats_path(dp_->stats));
			o.Set("ioBackend", xm_io_backend_name(dp_->io_backend));
		} else {
			o.Set("workers", 0);
			o.Set("statsPath", "");
			o.Set("ioBackend", "");
		}
		o.Set("version", (double)version);
		o.Set("listeners", ls);
		return o;
	}

	// setOverload(stopAccepting: boolean, rejectIncoming: boolean): the overload actions in force.
	Napi::Value SetOverload(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBoolean()) {
			Napi::TypeError::New(env, "setOverload(stopAccepting: boolean, rejectIncoming: boolean)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		int flags = (info[0].As<Napi::Boolean>().Value() ? XM_OVERLOAD_STOP_ACCEPT : 0) |
			    (info[1].As<Napi::Boolean>().Value() ? XM_OVERLOAD_REJECT : 0);
		xm_dp_set_overload(dp_, flags);
		return env.Undefined();
	}

	// shed(minBytes: number): reset client connections holding at least minBytes of unfinished input.
	Napi::Value Shed(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsNumber() || !(info[0].As<Napi::Number>().DoubleValue() >= 1)) {
			Napi::TypeError::New(env, "shed(minBytes: number >= 1)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		xm_dp_shed(dp_, (uint64_t)info[0].As<Napi::Number>().DoubleValue());
		return env.Undefined();
	}

	// statsOverflow(): { count, key }: entries that did not fit in the stats block, the first one's key.
	Napi::Value StatsOverflow(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		char key[160];
		uint64_t n = xm_stats_overflow(dp_->stats, key, sizeof(key));
		Napi::Object o = Napi::Object::New(env);
		o.Set("count", (double)n);
		o.Set("key", key);
		return o;
	}

	Napi::Value Info(const Napi::CallbackInfo &info)
	{
		return InfoObject(info.Env());
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		struct Ctx {
			Napi::Env env;
			Napi::Array arr;
			uint32_t n;
		} ctx{env, Napi::Array::New(env), 0};
		xm_stats_foreach(
			dp_->stats,
			[](void *c, enum xm_stat_type type, const char *key, const void *value) -> int {
				Ctx *x = static_cast<Ctx *>(c);
				Napi::Object e = Napi::Object::New(x->env);
				e.Set("key", key);
				if (type == XM_STAT_COUNTER) {
					e.Set("type", "counter");
					e.Set("value", (double)__atomic_load_n((const uint64_t *)value, __ATOMIC_RELAXED));
				} else if (type == XM_STAT_GAUGE) {
					e.Set("type", "gauge");
					e.Set("value", (double)__atomic_load_n((const int64_t *)value, __ATOMIC_RELAXED));
				} else {
					const xm_hist *h = (const xm_hist *)value;
					e.Set("type", "histogram");
					e.Set("count", (double)__atomic_load_n(&h->count, __ATOMIC_RELAXED));
					e.Set("sum", (double)__atomic_load_n(&h->sum, __ATOMIC_RELAXED));
					Napi::Array b = Napi::Array::New(x->env);
					uint32_t nb = 0;
					for (unsigned i = 0; i < XM_HIST_NBUCKETS; i++) {
						uint64_t cnt = __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
						if (!cnt)
							continue;
						Napi::Array pair = Napi::Array::New(x->env, 2);
						pair.Set((uint32_t)0, (double)xm_hist_bucket_upper(i));
						pair.Set((uint32_t)1, (double)cnt);
						b.Set(nb++, pair);
					}
					e.Set("buckets", b);
				}
				x->arr.Set(x->n++, e);
				return 0;
			},
			&ctx);
		return ctx.arr;
	}

	Napi::Value SetHostHealth(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!CheckOpen(env))
			return env.Undefined();
		if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsBoolean()) {
			Napi::TypeError::New(env, "setHostHealth(cluster: string, host: string, healthy: boolean)")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		int rc = xm_dp_set_health(dp_, info[0].As<Napi::String>().Utf8Value().c_str(),
					  info[1].As<Napi::String>().Utf8Value().c_str(), info[2].As<Napi::Boolean>().Value());
		return Napi::Boolean::New(env, rc == 0);
	}

	Napi::Value OnEvent(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 1 || !info[0].IsFunction()) {
			Napi::TypeError::New(env, "onEvent(fn): function required").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		onEvent_ = Napi::Persistent(info[0].As<Napi::Function>());
		DrainEvents(env);
		return env.Undefined();
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		auto *w = new CloseWorker(env, this);
		Napi::Promise p = w->Promise();
		w->Queue();
		return p;
	}
};

Napi::Value Version(const Napi::CallbackInfo &info)
{
	return Napi::String::New(info.Env(), "xmesh-native 0.1.0 (napi " + std::to_string(NAPI_VERSION) + ")");
}

Napi::Value BpfProbe(const Napi::CallbackInfo &info)
{
	char msg[256];
	int rc = xm_bpf_probe(msg, sizeof(msg));
	Napi::Object o = Napi::Object::New(info.Env());
	o.Set("ok", rc == 0);
	o.Set("message", msg);
	return o;
}

// watchdog.arm(deadlineMs, secondMs, exitCode) / .stopping() / .disarm(): see server/watchdog.h.
Napi::Value WatchdogArm(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
		Napi::TypeError::New(env, "watchdogArm(deadlineMs: number, secondMs: number, exitCode: number)").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	double dl = info[0].As<Napi::Number>().DoubleValue(), sec = info[1].As<Napi::Number>().DoubleValue();
	if (!(dl >= 1 && dl <= 86400000) || !(sec >= 1 && sec <= 86400000)) {
		Napi::RangeError::New(env, "watchdogArm: deadlines are 1 ms .. 1 day").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	struct xm_watchdog_opts o = { (uint32_t)dl, (uint32_t)sec, info[2].As<Napi::Number>().Int32Value() };
	int rc = xm_watchdog_arm(&o);
	if (rc < 0) {
		Napi::Error::New(env, std::string("watchdog: ") + strerror(-rc)).ThrowAsJavaScriptException();
		return env.Undefined();
	}
	return env.Undefined();
}

Napi::Value WatchdogStopping(const Napi::CallbackInfo &info)
{
	xm_watchdog_stopping();
	return info.Env().Undefined();
}

Napi::Value WatchdogDisarm(const Napi::CallbackInfo &info)
{
	xm_watchdog_disarm();
	return info.Env().Undefined();
}

// Environment teardown: stop and join every data plane that was never closed, so a
// worker thread can never outlive its environment (and the process always exits).
void CleanupEnv(void *arg)
{
	AddonData *d = static_cast<AddonData *>(arg);
	std::vector<DataPlane *> live(d->live.begin(), d->live.end()); // Shutdown() erases
	for (DataPlane *dp : live)
		dp->Shutdown();
	d->ctor.Reset();
	delete d;
}

void NoFinalize(Napi::Env, AddonData *) {}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	AddonData *d = new AddonData();
	env.SetInstanceData<AddonData, NoFinalize>(d); // freed by CleanupEnv
	napi_add_env_cleanup_hook(env, CleanupEnv, d);
	Napi::Function ctor = DataPlane::Init(env);
	d->ctor = Napi::Persistent(ctor);
	exports.Set("DataPlane", ctor);
	exports.Set("version", Napi::Function::New(env, Version));
	exports.Set("bpfProbe", Napi::Function::New(env, BpfProbe));
	exports.Set("watchdogArm", Napi::Function::New(env, WatchdogArm));
	exports.Set("watchdogStopping", Napi::Function::New(env, WatchdogStopping));
	exports.Set("watchdogDisarm", Napi::Function::New(env, WatchdogDisarm));
	return exports;
}

} // namespace

NODE_API_MODULE(xmesh_native, Init)
